"""A developer's own ``conf/local/default.yaml`` (git-ignored) is loaded by every run, so by every
run a test starts: ``make test`` says so in its closing lines, since CI runs without it."""

from __future__ import annotations

from helpers import local_defaults_note


def test_a_checkout_with_its_own_local_defaults_is_told_they_were_loaded(tmp_path):
    assert local_defaults_note(tmp_path) is None
    (tmp_path / "conf" / "local").mkdir(parents=True)
    (tmp_path / "conf" / "local" / "example.yaml").write_text("# shipped\n")
    assert local_defaults_note(tmp_path) is None  # the example is never loaded
    (tmp_path / "conf" / "local" / "default.yaml").write_text("trainer:\n  max_epochs: 1\n")
    note = local_defaults_note(tmp_path)
    assert note is not None and note.startswith("conf/local/default.yaml (this machine's own defaults) was")
