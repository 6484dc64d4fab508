"""`send_test` and the `notify-test` command: one message, a plain reason when it fails."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from tests.thai_sentences import english_sentences, kept_in_english
from tuneguard.catalog import say
from tuneguard.cli.notify_cmd import notify_test
from tuneguard.notify import send_test


def test_sent(http_server) -> None:
    ep = http_server()
    ok, reason = send_test(f"json://127.0.0.1:{ep.port}/hook", language="th", timeout=5)
    assert ok, reason
    assert reason == "ส่งข้อความทดสอบไปที่ json://*** แล้ว"  # in the message's language
    assert send_test(f"json://127.0.0.1:{ep.port}/hook", timeout=5)[1] == "sent a test message to json://***"
    assert ep.bodies[0]["title"].startswith("ข้อความทดสอบ")


def test_refused(refused_port) -> None:
    ok, reason = send_test(f"json://127.0.0.1:{refused_port}/hook", timeout=5)
    assert not ok
    assert "connection refused" in reason and f"127.0.0.1:{refused_port}" in reason


def test_token_refused(http_server) -> None:
    ep = http_server(default=(401, {}))
    ok, reason = send_test(f"json://127.0.0.1:{ep.port}/hook/badtoken123", timeout=5)
    assert not ok
    assert reason.startswith("the endpoint refused the token (HTTP 401)")
    assert "badtoken123" not in reason


def test_other_status(http_server) -> None:
    ep = http_server(default=(503, {}))
    ok, reason = send_test(f"json://127.0.0.1:{ep.port}/hook", timeout=5)
    assert not ok and "HTTP 503" in reason
    assert len(ep.requests) == 1  # a test message is not retried


def test_unrecognised_url() -> None:
    for url in ("garbage://abcdef", "not a url", "line://"):
        ok, reason = send_test(url)
        assert not ok
        assert reason.startswith("apprise does not recognise this URL"), reason


def test_a_plain_http_webhook_is_told_its_apprise_scheme(http_server) -> None:
    ep = http_server()
    ok, reason = send_test(f"http://127.0.0.1:{ep.port}/hook")
    assert not ok and ep.requests == []
    assert reason == ("apprise does not recognise this URL (http://***): a webhook that takes JSON is written "
                      "json://HOST[:PORT]/PATH (json:// for http://); other services have their own scheme "
                      "(https://appriseit.com/services/)")
    ok, reason = send_test(f"json://127.0.0.1:{ep.port}/hook")  # the URL the message names
    assert ok and len(ep.requests) == 1
    assert "jsons://HOST[:PORT]/PATH (jsons:// for https://)" in send_test("https://example.invalid/hook")[1]


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("notify-test")(notify_test)
    app.command("other")(lambda: None)  # keep notify-test a subcommand
    return app


def test_cli_exit_codes(http_server, refused_port) -> None:
    ep = http_server()
    runner = CliRunner()
    good = runner.invoke(_app(), ["notify-test", f"json://127.0.0.1:{ep.port}/hook"])
    assert good.exit_code == 0, good.output
    assert good.output == f"{say('notifycli.ok')} {say('notifycli.sent', target='json://***')}\n"
    assert good.output == "ok: sent a test message to json://***\n"
    bad = runner.invoke(_app(), ["notify-test", f"json://127.0.0.1:{refused_port}/hook"])
    assert bad.exit_code == 1
    assert "connection refused" in bad.output
    th = runner.invoke(_app(), ["notify-test", f"json://127.0.0.1:{ep.port}/hook", "--language", "th"])
    assert th.exit_code == 0
    assert ep.bodies[-1]["title"].startswith("ข้อความทดสอบ")
    # The success line in the message's language too, from the catalog.
    assert th.output == f"{say('notifycli.ok', 'th')} {say('notifycli.sent', 'th', target='json://***')}\n"
    assert th.output == "สำเร็จ: ส่งข้อความทดสอบไปที่ json://*** แล้ว\n"
    assert english_sentences(th.output, kept_in_english()) == []


def test_plain_call_and_bad_language(http_server) -> None:
    ep = http_server()
    notify_test(f"json://127.0.0.1:{ep.port}/hook")  # callable without typer: plain defaults
    assert len(ep.requests) == 1
    result = CliRunner().invoke(_app(), ["notify-test", f"json://127.0.0.1:{ep.port}/hook", "-l", "fr"])
    assert result.exit_code == 2 and "en or th" in result.output


def test_a_line_url_without_a_user_fails_naming_the_form_without_its_token() -> None:
    # apprise loads line://TOKEN but then has no one to push to; the test must not pass on it.
    token = "lInEtOkEnOnLy0123456789"
    result = CliRunner().invoke(_app(), ["notify-test", f"line://{token}"])
    assert result.exit_code == 1
    assert result.output == "error: not sent: line://*** names no one to send to: write it line://TOKEN/USER_ID\n"
    assert token not in result.output


def test_an_unreachable_host_is_said_once_not_sent() -> None:
    # The README's LINE example without a network: the name does not resolve.
    result = CliRunner().invoke(_app(), ["notify-test", "json://tuneguard-test.invalid/hook"])
    assert result.exit_code == 1
    assert result.output.startswith("error: not sent to json://***: cannot reach "), result.output
    assert result.output.count("not sent") == 1


def test_why_a_thai_test_message_was_not_sent_is_said_in_thai(http_server, refused_port) -> None:
    """`notify-test URL --language th`: the reason a message did not go out is Thai too (a
    server's own words inside stay as the server said them); the error label stays `error:`."""
    ep = http_server(default=(503, {}))
    runner = CliRunner()
    allowed = kept_in_english()
    cases = {
        f"json://127.0.0.1:{refused_port}/hook":
            f"error: ส่งไม่สำเร็จ: 127.0.0.1:{refused_port} ปฏิเสธการเชื่อมต่อ: ตรวจว่าบริการทำงานอยู่และพอร์ตถูกต้อง",
        "http://127.0.0.1:9/hook":
            "error: ส่งไม่สำเร็จ: apprise ไม่รู้จัก URL นี้ (http://***): webhook ที่รับ JSON ต้องเขียนเป็น "
            "json://HOST[:PORT]/PATH (ใช้ json:// แทน http://) ส่วนบริการอื่นมี scheme ของตัวเอง "
            "(https://appriseit.com/services/)",
        "line://lInEtOkEnOnLy0123456789": "error: ส่งไม่สำเร็จ: line://*** ไม่ได้ระบุผู้รับ: ให้เขียนเป็น line://TOKEN/USER_ID",
        "garbage://abcdef": "error: ส่งไม่สำเร็จ: apprise ไม่รู้จัก URL นี้ (garbage://***): ตรวจ scheme และส่วนที่ตามหลัง "
                            "(https://appriseit.com/services/)",
    }
    for url, line in cases.items():
        r = runner.invoke(_app(), ["notify-test", url, "--language", "th"])
        assert (r.exit_code, r.output) == (1, line + "\n"), url
        assert english_sentences(r.output.removeprefix("error: "), allowed) == [], url
    r = runner.invoke(_app(), ["notify-test", f"json://127.0.0.1:{ep.port}/hook", "--language", "th"])
    assert r.exit_code == 1 and r.output.startswith("error: ส่งไม่สำเร็จ: ปลายทางตอบกลับว่า HTTP 503")
    ep401 = http_server(default=(401, {}))
    ok, reason = send_test(f"json://127.0.0.1:{ep401.port}/hook/badtoken123", language="th", timeout=5)
    assert (ok, reason) == (False, "ปลายทางปฏิเสธ token (HTTP 401): ตรวจ token ใน json://***")
