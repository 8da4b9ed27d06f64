"""Sans-IO SIP: messages, URIs, SDP, transactions, dialogs, digest authentication."""
