"""switchman: an OpenAI-compatible LLM gateway that routes each request to the cheapest good-enough model."""

from switchman.errors import SwitchmanError

__all__ = ["SwitchmanError", "__version__"]

__version__ = "0.1.0"
