"""Server-rendered pages: phone-first, Chinese by default, no CDN and no build step."""
