"""The {% ui_entry %} tag loads the committed UI bundle named in Vite's manifest."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.template import Context, Template, TemplateSyntaxError


def render(source: str) -> str:
    return Template("{% load ui %}" + source).render(Context())


@pytest.mark.parametrize("entry", ["editor", "run"])
def test_each_entry_loads_a_module_script_that_is_in_static(entry):
    html = render(f'{{% ui_entry "{entry}" %}}')
    scripts = re.findall(r'<script type="module" src="/static/(ui/[^"]+)"', html)
    assert len(scripts) == 1
    assert finders.find(scripts[0]), scripts[0]
    for preload in re.findall(r'rel="modulepreload" href="/static/([^"]+)"', html):
        assert finders.find(preload), preload


def test_the_run_entry_brings_its_stylesheet():
    html = render('{% ui_entry "run" %}')
    sheets = re.findall(r'rel="stylesheet" href="/static/([^"]+)"', html)
    assert sheets
    assert all(finders.find(sheet) for sheet in sheets)


def test_an_unknown_entry_is_a_clear_template_error():
    with pytest.raises(TemplateSyntaxError, match="no UI entry named 'nope'"):
        render('{% ui_entry "nope" %}')
