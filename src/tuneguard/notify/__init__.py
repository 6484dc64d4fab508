"""Push notifications of a run (LINE, Slack, Discord, Telegram, e-mail, webhooks) via apprise.

`Notifier` queues run events and sends them from a background thread; `send_test`
backs `tuneguard notify-test`. Messages exist in English and Thai (`messages`).
"""

from tuneguard.notify.notifier import Notifier
from tuneguard.notify.probe import send_test

__all__ = ["Notifier", "send_test"]
