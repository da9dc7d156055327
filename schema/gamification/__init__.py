"""GraphQL for tiers, challenges, eco actions, check-ins and badges."""
