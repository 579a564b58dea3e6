"""In-app notices (站内通知): what happened that a member should know, with an unread count."""
