"""Digests: what changed on a site since the last e-mail, rendered, queued and delivered.

- :mod:`~pipelines.digest.build`: the digest's data, read from the database;
- :mod:`~pipelines.digest.render`: Jinja templates (``templates/digest.txt``/``.html``);
- :mod:`~pipelines.digest.message`: the MIME message and its headers;
- :mod:`~pipelines.digest.addresses`: address validation, header-safe values;
- :mod:`~pipelines.digest.compose`: build + render + message, queued with the crawl's close;
- :mod:`~pipelines.digest.outbox`: the outbox table (queue, claim, outcome);
- :mod:`~pipelines.digest.send`: SMTP or outbox-folder delivery with retries.
"""

from pipelines.digest.addresses import validate_email
from pipelines.digest.compose import queue_digest
from pipelines.digest.send import send_outbox

__all__ = ["queue_digest", "send_outbox", "validate_email"]
