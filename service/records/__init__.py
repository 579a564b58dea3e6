"""Records that count (issue 21): real-name ID documents kept encrypted, volunteer numbers, service
certificates under 民政部令第67号 with a public verification page, and the hours export that volunteer
platforms import."""
