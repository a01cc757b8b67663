"""Every colour the notebook views use, taken from the host's JupyterLab theme (``--jp-…``).

A hard-coded ``#fdd`` or ``white`` reads well in one theme and not at all in the other, so no
colour here is a literal. Coloured *text* (a status word, a check mark, an error title) mixes the
theme's status colour with its strongest font colour: in the light theme that darkens the red,
in the dark theme it lightens it, and either way the text stays at least 4.5:1 against the
layout background (the browser tests measure it). Tinted backgrounds mix a little of the status
colour into the layout colour for the same reason.

The styles are inline, not a ``<style>`` block, so a static copy of a view (a saved notebook,
nbconvert's HTML) looks the same as the live widget wherever inline styles are kept.
"""

from __future__ import annotations

# the theme's own text and surface colours
TEXT = "var(--jp-ui-font-color1)"
STRONG = "var(--jp-ui-font-color0)"
MUTED = "var(--jp-ui-font-color2)"  # ≥ 4.5:1 on layout-color0/1 in both themes, not on color2
SURFACE = "var(--jp-layout-color1)"
BORDER = "var(--jp-border-color2)"
MONO = "var(--jp-code-font-family)"

_TONES = {
    "error": "var(--jp-error-color1)",
    "warn": "var(--jp-warn-color1)",
    "success": "var(--jp-success-color1)",
    "info": "var(--jp-brand-color1)",
    "neutral": "var(--jp-layout-color4)",
}

STATUS_TONES = {"queued": "neutral", "running": "info", "retrying": "warn", "succeeded": "success",
                "failed": "error", "cancelled": "neutral"}


def tone(name: str) -> str:
    """The raw theme colour of a tone: for bars, borders and chart marks (not for text)."""
    return _TONES.get(name, _TONES["neutral"])


def tone_text(name: str) -> str:
    """A readable text colour in that tone (see the module docstring)."""
    if name == "neutral":
        return TEXT
    return f"color-mix(in srgb, {tone(name)} 62%, {STRONG})"


def tone_background(name: str, share: int = 12) -> str:
    """A light tint of the tone over the layout colour: behind error boxes and badges."""
    return f"color-mix(in srgb, {tone(name)} {share}%, {SURFACE})"


def badge(text: str, tone_name: str, *, css_class: str = "") -> str:
    """A small rounded label: tinted background, tone-coloured text, tone border."""
    return (f'<span class="{css_class}" style="color:{tone_text(tone_name)};'
            f'background:{tone_background(tone_name, 14)};border:1px solid {tone(tone_name)};'
            f'border-radius:3px;padding:0 6px;font-size:90%">{text}</span>')


def box(tone_name: str) -> str:
    """The style of a message box (errors, warnings) in that tone."""
    return (f"border-left:4px solid {tone(tone_name)};padding:4px 8px;margin:4px 0;"
            f"background:{tone_background(tone_name)};color:{TEXT}")


__all__ = ["BORDER", "MONO", "MUTED", "STATUS_TONES", "STRONG", "SURFACE", "TEXT", "badge", "box",
           "tone", "tone_background", "tone_text"]
