"""Each channel renders every event in its service's native format, within the service's limits,
with text we did not write escaped. The services' own checks are the stand-ins' (chat_services).
"""

from __future__ import annotations

import email.policy
import json
import re
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest

from slawatch.collector.alerts import channels
from slawatch.collector.alerts.channels import telegram
from slawatch.collector.alerts.delivery import JSON_CONTENT_TYPE, ChannelError, RenderedMessage
from slawatch.collector.alerts.events import Down, Event, Subject
from slawatch.collector.alerts.layout import TONE_COLORS
from slawatch.collector.alerts.text import compose
from slawatch.config.schema import Channel, Secret, SmtpSettings
from tests.chat_services import (
    ACME_WEB,
    AT,
    LINK,
    SINCE,
    big_digest,
    discord_problems,
    sample_events,
    slack_block_problems,
    storm,
    telegram_html_text,
)

TOKEN = "SECRETTOKEN0123456789"
KINDS = list(sample_events())
FIRST_WORDS = {
    "down": "DOWN acme-web",
    "reminder": "STILL DOWN acme-web",
    "resolved": "RESOLVED acme-web",
    "no_data": "NO DATA acme-web",
    "agent_silent": "AGENT SILENT eu-1",
    "flapping": "FLAPPING acme-web",
    "flapping_ended": "STOPPED FLAPPING acme-web",
    "burn_rate": "BURN RATE SLA acme-website",
    "objective_breached": "BREACHED SLA acme-website",
    "grouped": "STORM 2 changes",
    "digest": "SLA weekly review 2026-W47",
    "test": "TEST ops-chat",
}
HOSTILE = "<!channel> @everyone @channel <users/all> <b>bold</b> & *stars* _under_ " + "x" * 5000


SMTP = SmtpSettings("smtp.acme.example", "slawatch@acme.example", password=Secret(TOKEN))


def channel(kind: str) -> Channel:
    settings: dict[str, Any]
    match kind:
        case "telegram":
            settings = {"bot_token": Secret(f"1:{TOKEN}"), "chat_id": "-100123"}
        case "pagerduty":
            settings = {"routing_key": Secret(TOKEN)}
        case "email":
            settings = {"to": ("ops@acme.example",), "smtp": SMTP}
        case _:
            settings = {"url": Secret(f"https://chat.example/{TOKEN}")}
    if kind == "webhook":
        settings["secret"] = Secret("whsec")
    return Channel(f"{kind}-1", kind, settings)


def rendered(kind: str, event: Event) -> dict[str, Any]:
    message = channels.render(event, channel(kind))
    return json.loads(message.body)


def mail_of(message: RenderedMessage) -> EmailMessage:
    parsed = BytesParser(policy=email.policy.default).parsebytes(message.body)
    assert isinstance(parsed, EmailMessage)
    return parsed


def big_events() -> list[Event]:
    return [
        sample_events(HOSTILE)["down"],
        sample_events(HOSTILE)["grouped"],
        storm(200, error=HOSTILE),
        big_digest(40),
    ]


def notification_line(kind: str, message: RenderedMessage) -> str:
    """The text a phone notification shows first, per service."""
    if kind == "email":
        return str(mail_of(message)["Subject"])
    payload = json.loads(message.body)
    match kind:
        case "slack" | "mattermost" | "googlechat":
            return payload["text"].split("\n")[0]
        case "discord":
            return payload["content"]
        case "teams":
            return payload["attachments"][0]["content"]["body"][0]["text"]
        case "telegram":
            return (telegram_html_text(payload["text"]) or "").split("\n")[0]
        case "webhook":
            return payload["summary"]
        case "ntfy":
            return payload["message"].split("\n")[0]
        case "pagerduty":
            return payload["payload"]["summary"]
    raise AssertionError(kind)


# ----------------------------------------------------------------------------------- common


@pytest.mark.parametrize("service", list(channels.CHANNELS))
@pytest.mark.parametrize("kind", KINDS)
def test_every_event_renders_as_json_with_its_ids(service: str, kind: str) -> None:
    event = sample_events()[kind]
    message = channels.render(event, channel(service))
    assert isinstance(message, RenderedMessage)
    assert message.channel == channel(service).id
    assert message.notification_id == event.id
    assert message.event == kind
    if service == "email":
        assert message.headers == {"Content-Type": "message/rfc822"}
    else:
        assert message.headers == {"Content-Type": JSON_CONTENT_TYPE}
    line = notification_line(service, message)
    assert line.startswith(FIRST_WORDS[kind])
    assert channels.render(event, channel(service)).body == message.body  # rendered once, same


@pytest.mark.parametrize("service", list(channels.CHANNELS))
def test_the_first_line_is_the_summary(service: str) -> None:
    message = channels.render(sample_events()["down"], channel(service))
    assert notification_line(service, message) == (
        "DOWN acme-web — 3/3 agents: connection refused — since 03:12 UTC"
    )


@pytest.mark.parametrize("service", list(channels.CHANNELS))
def test_no_secret_in_any_rendering(service: str) -> None:
    for event in sample_events().values():
        message = channels.render(event, channel(service))
        assert TOKEN not in message.body.decode()
        assert TOKEN not in repr(message)
    assert TOKEN not in repr(channel(service))


def test_unknown_type_and_missing_url_are_named_without_values() -> None:
    with pytest.raises(ChannelError, match="'x' has an unknown type 'irc'"):
        channels.render(sample_events()["down"], Channel("x", "irc"))
    with pytest.raises(ChannelError, match=r"channel 'ops' \(slack\) has no url"):
        channels.endpoint(Channel("ops", "slack"))
    with pytest.raises(ChannelError, match="has no bot_token"):
        channels.endpoint(Channel("tg", "telegram", {"chat_id": "1"}))


# ------------------------------------------------------------------------------------ slack


def test_slack_has_fallback_text_and_header_section_context_blocks() -> None:
    payload = rendered("slack", sample_events()["down"])
    types = [b["type"] for b in payload["blocks"]]
    assert types[0] == "header" and types[-1] == "context" and "section" in types
    assert payload["blocks"][0]["text"] == {
        "type": "plain_text",
        "text": "DOWN acme-web",
        "emoji": True,
    }
    fields = [f["text"] for b in payload["blocks"] for f in b.get("fields", [])]
    assert "*Check*\nacme-web" in fields
    assert "*State*\nDOWN for 8m" in fields
    text = json.dumps(payload["blocks"])
    assert "eu-1: DOWN (connection refused)" in text
    assert f"<{LINK}|Open in slawatch>" in payload["blocks"][-1]["elements"][0]["text"]


@pytest.mark.parametrize("index", range(4))
def test_slack_stays_within_block_kit_limits_and_escapes_mentions(index: int) -> None:
    payload = rendered("slack", big_events()[index])
    assert slack_block_problems(payload["blocks"]) == []
    assert len(payload["text"]) <= 3000
    body = json.dumps(payload)
    assert "<!channel>" not in body
    if index < 3:
        assert "&lt;!channel&gt;" in body


# ---------------------------------------------------------------------------------- discord


def test_discord_has_content_and_a_coloured_embed() -> None:
    payload = rendered("discord", sample_events()["down"])
    embed = payload["embeds"][0]
    assert embed["title"] == "DOWN acme-web"
    assert embed["color"] == TONE_COLORS["bad"]
    assert embed["timestamp"] == "2026-11-27T03:20:00Z"
    assert embed["url"] == LINK
    assert {"name": "Check", "value": "acme-web", "inline": True} in embed["fields"]
    assert payload["allowed_mentions"] == {"parse": []}
    assert (
        rendered("discord", sample_events()["resolved"])["embeds"][0]["color"]
        == (TONE_COLORS["good"])
    )
    assert (
        rendered("discord", sample_events()["flapping"])["embeds"][0]["color"]
        == (TONE_COLORS["warning"])
    )


@pytest.mark.parametrize("index", range(4))
def test_discord_truncates_safely_within_its_limits(index: int) -> None:
    payload = rendered("discord", big_events()[index])
    assert discord_problems(payload) == []
    assert len(payload["embeds"][0]["fields"]) <= 25


def test_discord_says_how_many_did_not_fit() -> None:
    storm_embed = rendered("discord", storm(200))["embeds"][0]
    assert re.search(r"… and \d+ more$", storm_embed["description"])
    digest_fields = rendered("discord", big_digest(40))["embeds"][0]["fields"]
    assert digest_fields[-1]["name"] == "…"
    assert digest_fields[-1]["value"].startswith("and ")


def test_discord_escapes_markdown_of_remote_text() -> None:
    event = Down("n", AT, ACME_WEB, SINCE, "*bold* _it_ `code` [x](http://evil)")
    content = rendered("discord", event)["content"]
    assert r"\*bold\* \_it\_ \`code\` \[x\](http://evil)" in content


# ------------------------------------------------------------------------------------ teams


def test_teams_posts_an_adaptive_card_in_a_message() -> None:
    payload = rendered("teams", sample_events()["down"])
    assert payload["type"] == "message"
    attachment = payload["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    summary = compose(sample_events()["down"]).summary
    assert summary.startswith("DOWN acme-web — 3/3 agents")
    assert card["body"][0] == {  # what a phone's preview of the card shows: the whole line
        "type": "TextBlock",
        "text": summary,
        "wrap": True,
        "weight": "Bolder",
        "color": "Attention",
    }
    assert card["fallbackText"] == summary
    facts = next(b for b in card["body"] if b["type"] == "FactSet")["facts"]
    assert {"title": "Check", "value": "acme-web"} in facts
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open in slawatch", "url": LINK}]


def test_teams_has_no_action_without_a_link_and_bounds_long_lists() -> None:
    event = Down("n", AT, ACME_WEB, SINCE, "timeout")
    assert "actions" not in rendered("teams", event)["attachments"][0]["content"]
    card = rendered("teams", storm(200))["attachments"][0]["content"]
    assert len(card["body"]) < 50
    assert card["body"][-2]["text"] == "… and 160 more"
    assert len(json.dumps(card)) < 28_000


# ------------------------------------------------------------------------------ google chat


def test_google_chat_text_starts_plain_and_links_back() -> None:
    text = rendered("googlechat", sample_events()["down"])["text"]
    assert "*Check:* acme-web" in text
    assert f"<{LINK}|Open in slawatch>" in text


@pytest.mark.parametrize("index", range(4))
def test_google_chat_stays_short_and_mentions_nobody(index: int) -> None:
    text = rendered("googlechat", big_events()[index])["text"]
    assert len(text) <= 4096
    assert "<users/all>" not in text and "<!channel>" not in text


# --------------------------------------------------------------------------------- telegram


def test_telegram_send_message_payload() -> None:
    payload = rendered("telegram", sample_events()["down"])
    assert payload["chat_id"] == "-100123"
    assert payload["parse_mode"] == "HTML"
    assert payload["disable_web_page_preview"] is True
    assert payload["text"].startswith("<b>DOWN acme-web — 3/3 agents")
    assert f'<a href="{LINK}">Open in slawatch</a>' in payload["text"]


def test_telegram_escapes_html_so_remote_text_reads_as_written() -> None:
    error = '<b>oops</b> & <script>alert("x")</script> &amp;'
    payload = rendered("telegram", Down("n", AT, ACME_WEB, SINCE, error))
    assert "<script>" not in payload["text"]
    visible = telegram_html_text(payload["text"])
    assert visible is not None
    assert error in visible


@pytest.mark.parametrize("index", range(4))
def test_telegram_stays_within_4096_characters_and_parses(index: int) -> None:
    payload = rendered("telegram", big_events()[index])
    visible = telegram_html_text(payload["text"])
    assert visible is not None
    assert len(payload["text"].encode("utf-16-le")) // 2 <= 4096


def test_telegram_endpoint_holds_the_token_and_honours_api_url() -> None:
    token = Secret("1:abc")
    default = telegram.endpoint(Channel("tg", "telegram", {"bot_token": token, "chat_id": "1"}))
    assert default.value == "https://api.telegram.org/bot1:abc/sendMessage"
    local = Channel(
        "tg", "telegram", {"bot_token": token, "chat_id": "1", "api_url": "http://h:81/tg/"}
    )
    assert channels.endpoint(local).value == "http://h:81/tg/bot1:abc/sendMessage"
    assert "abc" not in repr(default) and str(default) == "***"


# ------------------------------------------------------------------------------- mattermost


def test_mattermost_text_and_slack_compatible_attachment() -> None:
    payload = rendered("mattermost", sample_events()["down"])
    attachment = payload["attachments"][0]
    assert attachment["color"] == f"#{TONE_COLORS['bad']:06x}"
    assert attachment["title"] == "DOWN acme-web"
    assert attachment["title_link"] == LINK
    assert {"title": "Check", "value": "acme-web", "short": True} in attachment["fields"]
    assert attachment["fallback"] == payload["text"]


def test_mattermost_mentions_nobody() -> None:
    payload = rendered("mattermost", sample_events(HOSTILE)["down"])
    body = json.dumps(payload, ensure_ascii=False)
    assert "@channel" not in body and "@everyone" not in body
    assert "@\u200bchannel" in body


# ---------------------------------------------------------------------------------- webhook


def test_webhook_body_follows_the_contract() -> None:
    body = rendered("webhook", sample_events()["down"])
    assert body["event"] == "down"
    assert body["id"] == "n-down"
    assert body["check"] == "acme-web" and body["sla"] is None
    assert body["since"] == "2026-11-27T03:12:00Z"
    assert body["at"] == "2026-11-27T03:20:00Z"
    assert body["error"] == "connection refused"
    assert body["state"] == "down"
    assert body["duration_s"] == 480.0
    assert body["link"] == LINK
    assert body["agents"][0] == {"agent": "eu-1", "state": "down", "error": "connection refused"}


def test_webhook_resolved_and_sla_events() -> None:
    resolved = rendered("webhook", sample_events()["resolved"])
    assert resolved["state"] == "up"
    assert resolved["since"] == resolved["down_since"] == "2026-11-27T03:12:00Z"
    assert resolved["up_since"] == "2026-11-27T03:19:04Z"
    assert resolved["duration_s"] == 424.0
    burn = rendered("webhook", sample_events()["burn_rate"])
    assert burn["sla"] == "acme-website" and burn["check"] is None
    assert burn["customer"] == "acme"
    assert burn["windows"][0] == {
        "long_s": 3600.0,
        "short_s": 300.0,
        "threshold": 14.4,
        "long_rate": 15.2,
        "short_rate": 20.1,
    }


def test_webhook_flapping_ended_is_no_recovery() -> None:
    ended = rendered("webhook", sample_events()["flapping_ended"])
    assert (ended["event"], ended["check"], ended["state"]) == ("flapping_ended", "acme-web", "up")
    assert ended["since"] == "2026-11-27T03:10:00Z"  # the last change
    assert ended["flapping_since"] == "2026-11-27T02:57:00Z"
    assert "down_since" not in ended and "duration_s" not in ended


def test_webhook_every_kind_has_the_common_keys() -> None:
    for kind, event in sample_events().items():
        body = rendered("webhook", event)
        for key in ("event", "id", "at", "summary", "check", "sla", "since", "error", "state"):
            assert key in body, (kind, key)
        assert body["event"] == kind
    storm_body = rendered("webhook", sample_events()["grouped"])
    assert [e["event"] for e in storm_body["events"]] == ["down", "resolved"]
    digest = rendered("webhook", sample_events()["digest"])
    assert digest["slas"][0]["met"] is True
    assert digest["slas"][0]["incidents"][0]["checks"] == ["acme-web"]


# ------------------------------------------------------------------------------------- ntfy


@pytest.mark.parametrize("index", range(4))
def test_ntfy_stays_within_4096_bytes_of_many_byte_characters(index: int) -> None:
    event = [*big_events(), storm(300, error="é€😀 " * 500)][index]
    payload = rendered("ntfy", event)
    assert len(payload["message"].encode()) <= 4096
    assert payload["message"].startswith(compose(event).summary[:40])


def test_ntfy_says_how_many_changes_did_not_fit() -> None:
    message = rendered("ntfy", storm(300))["message"]
    assert re.search(r"\n… and \d+ more\n", message)


# ------------------------------------------------------------------------------------ email


def test_email_escapes_html_and_keeps_the_text_whole() -> None:
    message = channels.render(sample_events(HOSTILE)["down"], channel("email"))
    mail = mail_of(message)
    html = mail.get_body(("html",))
    text = mail.get_body(("plain",))
    assert html is not None and text is not None
    page = html.get_content()
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "<!channel>" not in page
    assert "<b>bold</b>" in text.get_content()  # plain text is shown as written
    assert "\n" not in str(mail["Subject"])
    assert len(str(mail["Subject"])) <= 250


def test_email_is_the_same_bytes_at_each_rendering_and_says_what_it_is() -> None:
    first = channels.render(sample_events()["resolved"], channel("email"))
    again = channels.render(sample_events()["resolved"], channel("email"))
    assert first.body == again.body
    mail = mail_of(first)
    assert (mail["Message-ID"], mail["X-Slawatch-Event"]) == ("<n-resolved@slawatch>", "resolved")
    assert mail["From"] is None and mail["To"] is None  # added at each attempt, as configured
    assert mail.get_content_type() == "multipart/alternative"


# -------------------------------------------------------------------------------- pagerduty


def test_pagerduty_outage_keys_fit_and_match() -> None:
    events = sample_events()
    keys = {kind: rendered("pagerduty", events[kind])["dedup_key"] for kind in ("down", "resolved")}
    assert keys["down"] == keys["resolved"] == "slawatch/check/acme-web/1795749120000"
    long_id = Down("n", AT, Subject("check", "c" * 128), SINCE)
    assert len(rendered("pagerduty", long_id)["dedup_key"]) <= 255


def test_pagerduty_summary_and_details_within_limits() -> None:
    for event in big_events():
        body = rendered("pagerduty", event)
        assert len(body["payload"]["summary"]) <= 1024
        assert len(json.dumps(body).encode()) <= 512 * 1024
