"""The loyalty domain: members, ledger, tiers, challenges, badges, leaderboards, rewards, causes.

Plain typed async functions over Tortoise models. Nothing here knows about GraphQL or HTTP.
"""
