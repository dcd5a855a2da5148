"""The :class:`ProjectStore`: one SQLite project file (see the package docstring)."""
from __future__ import annotations

from vision_studio.core.store.annotations import AnnotationsMixin
from vision_studio.core.store.base import StoreBase
from vision_studio.core.store.categories import CategoriesMixin
from vision_studio.core.store.images import ImagesMixin
from vision_studio.core.store.proposals import ProposalsMixin
from vision_studio.core.store.records import RecordsMixin


class ProjectStore(CategoriesMixin, ImagesMixin, AnnotationsMixin, RecordsMixin, ProposalsMixin,
                   StoreBase):
    """A project file: open with :meth:`create` or :meth:`open`, close with :meth:`close`.

    The project *root* (the folder image paths are relative to) is the folder that holds
    the project file unless the ``root`` setting says otherwise (a path, absolute or
    relative to the file's folder).

    A store may be used from several threads; calls are serialised by a lock. Each
    public mutation commits before it returns, unless it runs inside
    :meth:`transaction`, whose block commits as a whole or not at all.

    Raises:
        StoreError: on a file that is not a project, a newer schema than this program
            knows, or an invalid operation (unknown id, empty name, bad bbox...).
    """
