"""Flower never starts without a basic auth worth the name."""

from __future__ import annotations

import pytest

from services.flower import auth_problem, main


@pytest.mark.parametrize(
    ("auth", "named"),
    [
        ("", "user:password"),
        ("admin", "user:password"),
        (":long-enough-password", "user:password"),
        ("admin:short", "12+ characters"),
        ("admin:changeme-changeme", "placeholder"),
        ("admin:a-long-password-1,other:another-long-one", "one user:password"),
        ("ad/min:a-long-password-1", "letters, digits"),
    ],
)
def test_weak_or_missing_auth_is_refused_with_what_to_change(auth: str, named: str) -> None:
    problem = auth_problem(auth)
    assert problem is not None and named in problem


def test_a_good_auth_passes() -> None:
    assert auth_problem("operator:Xk3v9-qLr72-mPw") is None


def test_main_refuses_to_start_without_auth(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "")
    monkeypatch.setenv("GANFOUNDRY_REDIS_URL", "redis://redis:6379/0")
    assert main() == 2
    assert "GANFOUNDRY_FLOWER_AUTH" in capsys.readouterr().err
