"""E-mail triggers: an IMAP mailbox polled for messages matching a filter."""
