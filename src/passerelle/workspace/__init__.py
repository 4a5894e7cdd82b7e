"""Project workspaces: researchers' queries over granted data, and output release.

The hub-side of the research sandbox: who may query what now (grants, project
state), where results are kept (``workspaces/project-<id>/`` in the hub's data
store), and the audit of every query.
"""

from passerelle.workspace.queries import (
    QueryView,
    get_query,
    list_queries,
    read_result,
    run_query,
    workspace_prefix,
)
from passerelle.workspace.release_queue import PendingRelease, list_pending_releases
from passerelle.workspace.releases import (
    ReleaseView,
    decide_release,
    get_release,
    list_releases,
    read_release_output,
    request_release,
    request_table_release,
)
from passerelle.workspace.retention import PurgeReport, purge_results

__all__ = [
    "PendingRelease",
    "PurgeReport",
    "QueryView",
    "ReleaseView",
    "decide_release",
    "get_query",
    "get_release",
    "list_pending_releases",
    "list_queries",
    "list_releases",
    "purge_results",
    "read_release_output",
    "read_result",
    "request_release",
    "request_table_release",
    "run_query",
    "workspace_prefix",
]
