"""Config for Tortoise's own CLI (`tortoise makemigrations`), read from `[tool.tortoise]`."""

from server.database import tortoise_config
from server.settings import get_settings

TORTOISE_ORM = tortoise_config(get_settings())
