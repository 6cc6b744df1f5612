"""Remove data batches (simulations, imports) together with every row they wrote."""

import logging
from collections import Counter

from django.db import transaction

from store.models import DataBatch, Order

logger = logging.getLogger(__name__)


def delete_batches(batches):
    """Delete the given batches and their rows in one transaction.

    ``batches`` is a queryset of ``DataBatch``. Orders go first: their items
    PROTECT products, and Django's collector refuses to delete a protected
    product even when the protecting item is deleted in the same call.
    Returns ``(total_rows, {model label: rows})`` like ``QuerySet.delete()``.
    Raises ``ProtectedError`` when rows outside the batches (orders of live
    data, say) still refer to products of these batches; nothing is deleted
    then.
    """
    batch_ids = list(batches.values_list("pk", flat=True))
    counts = Counter()
    with transaction.atomic():
        _deleted, per_model = Order.objects.filter(batch_id__in=batch_ids).delete()
        counts.update(per_model)
        _deleted, per_model = DataBatch.objects.filter(pk__in=batch_ids).delete()
        counts.update(per_model)
    counts = {label: rows for label, rows in counts.items() if rows}
    total = sum(counts.values())
    logger.info("Deleted batches %s with %d rows: %s", batch_ids, total, counts)
    return total, counts
