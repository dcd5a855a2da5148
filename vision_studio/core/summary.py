"""A text summary of a project: images, annotations and tags per split and category,
and the problems found in its data (what ``vision-studio info`` prints)."""
from __future__ import annotations

from vision_studio.core.store import ProjectStore


def project_summary(store: ProjectStore, max_problems: int = 20) -> str:
    """Multi-line, human-readable summary of ``store``.

    Args:
        store: An open project.
        max_problems: How many problems to list by name (the rest are counted).
    """
    splits = store.splits()
    split_names = sorted(splits, key=lambda s: ({"train": 0, "val": 1, "test": 2}.get(s, 3), s))
    anns, tags = store.annotation_counts(), store.tag_counts()
    lines = [f"Project {store.path}", f"  image root: {store.root}",
             f"  {store.image_count()} images, {store.annotation_count()} annotations, "
             f"{len(store.categories())} categories, {len(store.labelled_image_ids())} images labelled"]
    header = ["category"] + [f"{s or '(none)'}" for s in split_names] + ["total"]
    rows = [["images"] + [str(splits[s]) for s in split_names] + [str(sum(splits.values()))]]
    for cat in store.categories():
        counts = [anns.get((s, cat.id), 0) + tags.get((s, cat.id), 0) for s in split_names]
        kind = "tags" if any(tags.get((s, cat.id)) for s in split_names) else "objects"
        rows.append([f"{cat.name} [{cat.id}] ({kind})"] + [str(c) for c in counts] + [str(sum(counts))])
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda r: "  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)  # noqa: E731
                                     for i, (c, w) in enumerate(zip(r, widths)))
    lines += ["", fmt(header)] + [fmt(r) for r in rows]
    problems = store.problems()
    lines.append("")
    if not problems:
        lines.append("No problems found.")
    else:
        lines.append(f"{len(problems)} problem(s):")
        lines += [f"  {p.source}: {p.message}" for p in problems[:max_problems]]
        if len(problems) > max_problems:
            lines.append(f"  ... and {len(problems) - max_problems} more")
    return "\n".join(lines)
