"""The console's pure parts: password hashes, the login limiter, signed sessions and CSRF tokens,
the SVG charts, the [console] config, and `mortard console hash-password`."""
from __future__ import annotations

import io
import re
from datetime import datetime, timedelta, timezone

import pytest

import mortard.cli
from mortard.config import ConfigError, config_from_dict
from mortard.console import charts
from mortard.console.auth import LoginLimiter, authenticate, check_password, hash_password
from mortard.console.sessions import SessionSigner
from mortard.console.views import age, pretty_json, reasons
from mortard.sync.states import REASONS


def test_a_password_hash_checks_the_right_password_only_and_never_contains_it():
    h = hash_password("correct horse battery")
    assert h.startswith("scrypt$16384$8$1$") and "correct" not in h
    assert check_password("correct horse battery", h)
    assert not check_password("correct horse batterY", h)
    assert hash_password("correct horse battery") != h          # salted
    assert not check_password("x", "not-a-hash") and not check_password("x", "md5$1$2$3$4$5")


def test_authenticate_gives_the_configured_role():
    cfg = config_from_dict({"console": {"users": {
        "ann": {"role": "operator", "password_hash": hash_password("ann-password")},
        "vic": {"role": "viewer", "password_hash": hash_password("vic-password")}}}})
    assert authenticate(cfg.console.users, "ann", "ann-password").may_act
    assert not authenticate(cfg.console.users, "vic", "vic-password").may_act
    assert authenticate(cfg.console.users, "vic", "ann-password") is None
    assert authenticate(cfg.console.users, "nobody", "ann-password") is None


def test_the_console_config_refuses_an_unknown_role_or_key():
    with pytest.raises(ConfigError, match="console.users.ann.role: expected one of viewer, operator"):
        config_from_dict({"console": {"users": {"ann": {"role": "admin", "password_hash": "x"}}}})
    with pytest.raises(ConfigError, match="unknown key console.password"):
        config_from_dict({"console": {"password": "x"}})
    with pytest.raises(ConfigError, match="console.session_secret: environment variable NOPE is not set"):
        config_from_dict({"console": {"session_secret_env": "NOPE"}}, env={})
    cfg = config_from_dict({"console": {"session_secret_env": "S"}}, env={"S": "s3cret-value"})
    assert cfg.console.host == "127.0.0.1" and "s3cret-value" not in repr(cfg)


def test_the_limiter_refuses_after_too_many_failures_per_user_and_per_address_until_the_window_passes():
    now = [1000.0]
    lim = LoginLimiter(3, 60, clock=lambda: now[0])
    for _ in range(3):
        assert lim.retry_after("ann", "10.0.0.1") is None
        lim.failed("ann", "10.0.0.1")
    assert lim.retry_after("ann", "10.0.0.2") == pytest.approx(60)      # the user, from anywhere
    assert lim.retry_after("bob", "10.0.0.1") == pytest.approx(60)      # the address, for anyone
    assert lim.retry_after("bob", "10.0.0.2") is None
    now[0] += 30
    assert lim.retry_after("ann", "10.0.0.2") == pytest.approx(30)
    now[0] += 30.001
    assert lim.retry_after("ann", "10.0.0.1") is None


def test_a_session_cookie_round_trips_and_any_change_or_expiry_or_revocation_ends_it():
    now = [1_000_000.0]
    signer = SessionSigner(b"k" * 32, ttl_s=100, clock=lambda: now[0])
    s = signer.new("ann")
    cookie = signer.dump(s)
    assert signer.load(cookie) == s
    body, mac = cookie.split(".")
    assert signer.load(body[:-1] + ("A" if body[-1] != "A" else "B") + "." + mac) is None
    assert signer.load(cookie + "x") is None and signer.load("garbage") is None and signer.load(None) is None
    assert SessionSigner(b"other" * 8, ttl_s=100, clock=lambda: now[0]).load(cookie) is None
    token = signer.csrf_token(s)
    assert signer.csrf_ok(s, token) and not signer.csrf_ok(signer.new("ann"), token)
    assert not signer.csrf_ok(s, None) and not signer.csrf_ok(s, "é")
    now[0] += 100
    assert signer.load(cookie) is None
    s2 = signer.new("ann")
    signer.revoke(s2)
    assert signer.load(signer.dump(s2)) is None


def test_a_chart_draws_each_shop_on_one_time_axis_with_a_round_maximum():
    start = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    end = start + timedelta(hours=1)
    pts = charts.fill_minutes([(start + timedelta(minutes=10), 3), (start + timedelta(minutes=20, seconds=30), 7)],
                              start, end)
    assert len(pts) == 61 and sum(v for _, v in pts) == 10 and pts[20] == (start + timedelta(minutes=20), 7)
    svg = str(charts.line_chart("Invoiced <per> minute", {"b.shop": pts, "a.shop": [(start, 1.0)]},
                                start=start, end=end, unit="orders"))
    assert svg.startswith("<svg") and svg.endswith("</svg>") and "Invoiced &lt;per&gt; minute" in svg
    assert re.findall(r'data-series="([^"]+)"', svg) == ["a.shop", "b.shop"]
    ticks = re.findall(r'class="chart-tick">([\d.k]+)</text>', svg)
    assert ticks[:5] == ["0", "2.5", "5", "7.5", "10"]                       # 7 → a y axis up to 10
    b_points = re.findall(r'data-series="b.shop"[^>]*points="([^"]+)"', svg)[0].split()
    xs = [float(p.split(",")[0]) for p in b_points]
    assert xs == sorted(xs) and len(xs) == 61
    assert charts.nice_ceiling(0) == 1 and charts.nice_ceiling(11) == 20 and charts.nice_ceiling(0.3) == 0.5
    empty = str(charts.line_chart("x", {}, start=start, end=end, unit="s", empty="nothing yet"))
    assert "nothing yet" in empty and "<polyline" not in empty


def test_views_say_ages_and_reason_sentences_and_blank_secret_looking_fields():
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    assert [age(now - timedelta(seconds=s), now) for s in (5, 300, 3 * 3600 + 60, 2 * 86400 + 7200)] == \
        ["5 s", "5 min", "3 h 01 min", "2 d 2 h"]
    assert reasons([{"code": "no_stock", "message": "SKU-1"}]) == [
        {"code": "no_stock", "means": REASONS["no_stock"].means, "message": "SKU-1"}]
    text = pretty_json({"a": 1, "nested": [{"X-Api-Token": "t0k", "Authorization": "Bearer z"}]})
    assert "t0k" not in text and "Bearer" not in text and text.count("[hidden]") == 2


def test_hash_password_command_prints_a_hash_of_the_password_on_stdin(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))
    assert mortard.cli.main(["console", "hash-password"]) == 0
    out = capsys.readouterr().out.strip()
    assert check_password("a long enough password", out) and "long enough" not in out
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert mortard.cli.main(["console", "hash-password"]) == 1
    assert "shorter than 10" in capsys.readouterr().err


def test_a_heartland_link_never_carries_credentials_from_the_config():
    from mortard.console.pages import _without_userinfo
    assert _without_userinfo("https://u:pw@acme.retail.heartland.us/api/") == "https://acme.retail.heartland.us/api/"
    assert _without_userinfo("http://127.0.0.1:9/acme/api/") == "http://127.0.0.1:9/acme/api/"
