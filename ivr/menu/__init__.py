"""Menus as data: node kinds, loading, checking."""

from ivr.menu.load import PromptBook, load_menu, parse_menu
from ivr.menu.model import Menu

__all__ = ["Menu", "PromptBook", "load_menu", "parse_menu"]
