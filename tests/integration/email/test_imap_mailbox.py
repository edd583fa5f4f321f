"""The IMAP mailbox against a real Dovecot: the filter pushed to SEARCH and checked on what was fetched, nothing
marked read by reading, \\Seen when asked, UIDVALIDITY, TLS both ways, and clear errors without the password."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage

import pytest

from tests.support.dovecot import HOST, LOCAL_DESTINATIONS, Dovecot, MailUser, spare_port
from tests.support.tcp_proxy import TcpProxy
from workflow_scheduler.adapters.imap_mailbox import (
    ImapServer,
    MailboxLogin,
    PasswordLogin,
    check_mailbox,
    open_mailbox,
)
from workflow_scheduler.adapters.outbound import PUBLIC_ONLY
from workflow_scheduler.domain.triggers.email.filter import parse_filter
from workflow_scheduler.domain.triggers.email.mailbox import (
    MailboxFailed,
    MailboxFolderNotFound,
    MailboxLoginRefused,
    MailboxTlsFailed,
    MailboxUnreachable,
)
from workflow_scheduler.domain.triggers.email.message import parse_message

pytestmark = pytest.mark.integration


def tls_server(dovecot: Dovecot, **changes: object) -> ImapServer:
    options: dict[str, object] = {
        "host": HOST,
        "port": dovecot.imaps_port,
        "use_ssl": True,
        "ssl_context": dovecot.ssl_context(),
        "destinations": LOCAL_DESTINATIONS,
    }
    options.update(changes)
    return ImapServer(**options)  # type: ignore[arg-type]


def starttls_server(dovecot: Dovecot, **changes: object) -> ImapServer:
    return tls_server(dovecot, **{"port": dovecot.imap_port, "use_ssl": False, **changes})


def login(user: MailUser) -> MailboxLogin:
    return PasswordLogin(user.name, user.password)


def mail(
    sender: str,
    subject: str,
    body: str = "",
    to: str = "me@example.com",
    cc: str | None = None,
    html: str | None = None,
    attachments: tuple[tuple[str, bytes, str], ...] = (),
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    if cc:
        msg["Cc"] = cc
    if body:
        msg.set_content(body)
    if html:
        if body:
            msg.add_alternative(html, subtype="html")
        else:
            msg.set_content(html, subtype="html")
    for filename, content, content_type in attachments:
        maintype, subtype = content_type.split("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return msg


@pytest.fixture(scope="module")
def corpus(dovecot: Dovecot) -> tuple[MailUser, dict[str, int]]:
    """One mailbox with four different messages, shared by the filter cases (reading changes nothing)."""
    user = dovecot.add_user()
    digest = mail("alerts@example.com", "Weekly digest", "all green; build passed", to="team@example.com")
    digest.add_related(b"\x89PNG", maintype="image", subtype="png", cid="<logo>")  # inline, unnamed: no attachment
    messages = {
        "alert": mail(
            "CI Alerts <alerts@example.com>",
            "Build failed on main",
            "step deploy-prod broke",
            to="Team <team@example.com>",
            cc="boss@example.net",
            attachments=(("report.pdf", b"%PDF-1.7", "application/pdf"),),
        ),
        "lunch": mail("bob@example.org", "Lunch?", "Pizza at noon"),
        "invoice": mail(
            "Billing <billing@shop.example>",
            "Überweisung fällig",
            html="<p>Invoice attached</p>",
            cc="accounts@example.com",
            attachments=(("Rechnung-2026.xlsx", b"PK\x03\x04", "application/vnd.ms-excel"),),
        ),
        "digest": digest,
    }
    return user, {name: dovecot.append(user, msg) for name, msg in messages.items()}


def matching(server: ImapServer, user: MailUser, text: str, after_uid: int = 0) -> set[int]:
    """The two steps a poll takes: SEARCH with what the server can check, headers and structure, then whole
    messages for the bare words; the filter decides at each step."""
    email_filter = parse_filter(text)
    with open_mailbox(server, login(user)) as mailbox:
        mailbox.select("INBOX")
        found = mailbox.search(after_uid, email_filter.search_criteria())
        candidates = [s.uid for s in mailbox.summaries(found) if email_filter.matches(s.facts)]
        full = mailbox.fetch(candidates)
    return {uid for uid, raw in full.items() if email_filter.matches(parse_message(raw).facts())}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from:alerts@example.com", {"alert", "digest"}),
        ('from:"CI Alerts"', {"alert"}),
        ("-from:alerts", {"lunch", "invoice"}),
        ("to:team", {"alert", "digest"}),
        ("-to:team", {"lunch", "invoice"}),
        ("cc:boss", {"alert"}),
        ("-cc:boss", {"lunch", "invoice", "digest"}),
        ('subject:"build failed"', {"alert"}),
        ("SUBJECT:überweisung", {"invoice"}),
        ("-subject:lunch", {"alert", "invoice", "digest"}),
        ("has:attachment", {"alert", "invoice"}),
        ("-has:attachment", {"lunch", "digest"}),
        ("filename:pdf", {"alert"}),
        ("filename:rechnung", {"invoice"}),
        ("-filename:pdf", {"lunch", "invoice", "digest"}),
        ("pizza", {"lunch"}),
        ("failed", {"alert"}),
        ('"build passed"', {"digest"}),
        ("invoice", {"invoice"}),
        ("-build", {"lunch", "invoice"}),
        ("from:alerts has:attachment -lunch", {"alert"}),
        ("from:nobody", set()),
        ("", {"alert", "lunch", "invoice", "digest"}),
    ],
)
def test_each_filter_term_picks_the_matching_mail(
    dovecot: Dovecot, corpus: tuple[MailUser, dict[str, int]], text: str, expected: set[str]
) -> None:
    user, uids = corpus
    assert matching(tls_server(dovecot), user, text) == {uids[name] for name in expected}


def test_search_pushes_what_it_can_to_the_server(dovecot: Dovecot, corpus: tuple[MailUser, dict[str, int]]) -> None:
    user, uids = corpus
    with open_mailbox(tls_server(dovecot), login(user)) as mailbox:
        mailbox.select("INBOX")
        # Only what the server found is fetched at all.
        assert mailbox.search(0, parse_filter("from:alerts pizza").search_criteria()) == []
        assert mailbox.search(0, parse_filter("subject:überweisung").search_criteria()) == [uids["invoice"]]
        # has:attachment is decided on the structure: the server returns everything.
        assert len(mailbox.search(0, parse_filter("has:attachment").search_criteria())) == 4


def test_search_finds_only_mail_above_the_cursor(dovecot: Dovecot, mail_user: MailUser) -> None:
    first, second, third = (dovecot.append(mail_user, mail("a@b.c", f"n{i}", "x")) for i in range(3))
    with open_mailbox(tls_server(dovecot), login(mail_user)) as mailbox:
        state = mailbox.select("INBOX")
        assert state.uidnext == third + 1
        assert mailbox.search(first) == [second, third]
        assert mailbox.search(third) == []  # "n:*" names the last message even when it is below n
        assert mailbox.search(third + 10) == []


def test_reading_marks_nothing_and_mark_seen_marks_only_what_it_is_given(dovecot: Dovecot, mail_user: MailUser) -> None:
    uids = [dovecot.append(mail_user, mail("a@b.c", "n1", "body", attachments=(("a.txt", b"x", "text/plain"),)))]
    uids += [dovecot.append(mail_user, mail("a@b.c", "n2", "body"))]
    already_read = dovecot.append(mail_user, mail("a@b.c", "n3", "body"), flags=[r"\Seen"])
    with open_mailbox(starttls_server(dovecot), login(mail_user)) as mailbox:
        mailbox.select("INBOX")
        mailbox.summaries(mailbox.search(0))
        assert set(mailbox.fetch(uids)) == set(uids)
    flags = dovecot.flags(mail_user)
    assert [r"\Seen" in flags[uid] for uid in (*uids, already_read)] == [False, False, True]

    with open_mailbox(starttls_server(dovecot), login(mail_user)) as mailbox:
        mailbox.select("INBOX")  # read-only: marking selects the folder for writing first
        mailbox.mark_seen([uids[1]])
    flags = dovecot.flags(mail_user)
    assert [r"\Seen" in flags[uid] for uid in (*uids, already_read)] == [False, True, True]


def test_summaries_give_headers_attachment_names_and_size(dovecot: Dovecot, mail_user: MailUser) -> None:
    message = mail(
        "=?utf-8?q?J=C3=BCrgen?= <j@example.de>",
        "Quartal",
        "text",
        cc="x@example.com",
        attachments=(("Bericht Q3 ü.pdf", b"%PDF", "application/pdf"), ("data.csv", b"a,b", "text/csv")),
    )
    uid = dovecot.append(mail_user, message)
    with open_mailbox(tls_server(dovecot), login(mail_user)) as mailbox:
        mailbox.select("INBOX")
        [summary] = mailbox.summaries([uid, uid + 100])  # a UID that is not there is left out
    assert summary.uid == uid
    assert summary.facts.sender == "Jürgen <j@example.de>"
    assert summary.facts.cc == "x@example.com"
    assert summary.facts.attachment_names == ("Bericht Q3 ü.pdf", "data.csv")
    assert summary.facts.body is None
    assert summary.size == len(message.as_bytes().replace(b"\n", b"\r\n"))


def test_a_uidvalidity_change_is_seen_on_the_next_select(dovecot: Dovecot, mail_user: MailUser) -> None:
    dovecot.append(mail_user, mail("a@b.c", "one", "x"))
    before = check_mailbox(tls_server(dovecot), login(mail_user), "INBOX")
    assert (before.uidvalidity, before.uidnext) == dovecot.status(mail_user)
    changed = dovecot.change_uidvalidity(mail_user)
    after = check_mailbox(tls_server(dovecot), login(mail_user), "INBOX")
    assert after.uidvalidity == changed != before.uidvalidity


def test_other_folders_are_read_by_name(dovecot: Dovecot, mail_user: MailUser) -> None:
    dovecot.create_folder(mail_user, "Alerts/CI")
    uid = dovecot.append(mail_user, mail("a@b.c", "in a folder", "x"), folder="Alerts/CI")
    with open_mailbox(tls_server(dovecot), login(mail_user)) as mailbox:
        mailbox.select("Alerts/CI")
        assert mailbox.search(0) == [uid]


def test_no_such_folder_is_a_clear_refusal(dovecot: Dovecot, mail_user: MailUser) -> None:
    with pytest.raises(MailboxFolderNotFound) as caught:
        check_mailbox(tls_server(dovecot), login(mail_user), "Nope")
    assert "folder 'Nope' cannot be opened" in caught.value.message
    assert caught.value.code == "imap_folder_not_found"


def test_a_wrong_password_is_refused_without_echoing_it(
    dovecot: Dovecot, mail_user: MailUser, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "Wr0ng-Pa55word-" + mail_user.password
    caplog.set_level(logging.DEBUG)
    with pytest.raises(MailboxLoginRefused) as caught:
        check_mailbox(starttls_server(dovecot), PasswordLogin(mail_user.name, wrong), "INBOX")
    error = caught.value
    assert error.code == "imap_login_refused"
    assert f"refused the login of {mail_user.name!r}" in error.message
    assert "AUTHENTICATIONFAILED" in error.message
    assert error.__cause__ is None
    for text in (error.message, repr(error), caplog.text, repr(PasswordLogin(mail_user.name, wrong))):
        assert wrong not in text


def test_tls_and_starttls_both_log_in(dovecot: Dovecot, mail_user: MailUser) -> None:
    uid = dovecot.append(mail_user, mail("a@b.c", "x", "y"))
    for server in (tls_server(dovecot), starttls_server(dovecot)):
        assert check_mailbox(server, login(mail_user), "INBOX").uidnext == uid + 1


def test_an_untrusted_certificate_after_the_starttls_greeting_is_a_tls_failure(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    with pytest.raises(MailboxTlsFailed, match=r"certificate .* is not trusted"):
        check_mailbox(starttls_server(dovecot, ssl_context=None), login(mail_user), "INBOX")


@pytest.mark.parametrize(
    "failure",
    ["closed port", "unknown host", "untrusted certificate", "TLS to the STARTTLS port", "plain text to the TLS port"],
)
def test_every_failure_before_the_greeting_answers_like_a_refused_destination(
    dovecot: Dovecot, mail_user: MailUser, failure: str
) -> None:
    """Nothing in the answer tells an open port from a closed one, or from one the policy refused."""
    server = {
        "closed port": tls_server(dovecot, port=spare_port()),
        "unknown host": tls_server(dovecot, host="imap.nonexistent.invalid"),
        "untrusted certificate": tls_server(dovecot, ssl_context=None),
        "TLS to the STARTTLS port": tls_server(dovecot, port=dovecot.imap_port),
        "plain text to the TLS port": starttls_server(dovecot, port=dovecot.imaps_port),
    }[failure]
    server = replace(server, connect_timeout=0.5)
    with pytest.raises(MailboxUnreachable) as failed:
        check_mailbox(server, login(mail_user), "INBOX")
    with pytest.raises(MailboxUnreachable) as refused:
        check_mailbox(replace(server, destinations=PUBLIC_ONLY), login(mail_user), "INBOX")  # loopback: refused
    assert failed.value.code == refused.value.code == "imap_unreachable"
    assert failed.value.message == refused.value.message
    assert failed.value.message.startswith(f"could not reach an IMAP server at {server.host}:{server.port} ")
    assert failed.value.__cause__ is None and failed.value.__suppress_context__


@pytest.fixture
def proxy(dovecot: Dovecot) -> Iterator[TcpProxy]:
    proxied = TcpProxy(dovecot.imap_port)
    yield proxied
    proxied.close()


def test_a_connection_lost_mid_fetch_is_a_mailbox_failure(
    dovecot: Dovecot, mail_user: MailUser, proxy: TcpProxy
) -> None:
    big = dovecot.append(mail_user, mail("a@b.c", "big", "x" * 200_000))
    with open_mailbox(starttls_server(dovecot, port=proxy.port), login(mail_user)) as mailbox:
        mailbox.select("INBOX")
        proxy.drop_after(20_000)
        with pytest.raises(MailboxFailed, match="fetching messages"):
            mailbox.fetch([big])
    assert r"\Seen" not in dovecot.flags(mail_user)[big]
