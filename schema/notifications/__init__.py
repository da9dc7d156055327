"""GraphQL for member notifications: `me { notifications }`, preferences, marking read, and
the `notifications` subscription."""
