"""The interface text catalogues: every key in both languages, every option translated, every key the tabs
ask for defined."""

from __future__ import annotations

import re
from pathlib import Path

from rwkv_simple_gui.train.config import TrainConfig
from rwkv_simple_gui.ui import i18n
from rwkv_simple_gui.ui.i18n_options import ZH_OPTIONS

UI = Path(i18n.__file__).parent


def test_english_and_chinese_have_the_same_keys():
    assert set(i18n.EN) - set(i18n.ZH) == set() and set(i18n.ZH) - set(i18n.EN) == set()


def test_every_option_has_its_own_chinese_help():
    options = {f.name for f in TrainConfig.options()}
    assert set(ZH_OPTIONS) == options
    assert [n for n in options if i18n.ZH[f"opt.{n}.help"] == i18n.EN[f"opt.{n}.help"]] == []


def test_every_key_the_tabs_use_is_defined():
    used = {key for path in UI.glob("*.py") for key in re.findall(r'\bt\("([\w.]+)"\)', path.read_text())}
    assert used, "the scan found no t(...) calls"
    assert sorted(used - set(i18n.EN)) == []
