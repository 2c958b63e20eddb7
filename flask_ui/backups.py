"""Backups: download a consistent snapshot of the database; restore an uploaded one."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from flask import (
    Blueprint,
    after_this_request,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response

from flask_ui.auth import admin_required, control_or_503
from panic_edge import backup
from panic_edge.errors import BackupError, PanicEdgeError

bp = Blueprint("backups", __name__)


def snapshot_response() -> Response:
    """A fresh snapshot as a download; the temporary file is removed once sent."""
    settings = current_app.config["PANIC"]
    folder = Path(tempfile.mkdtemp(prefix="panic-backup-"))
    name = f"panic-edge-{time.strftime('%Y%m%d-%H%M%S')}.sqlite3"
    path = folder / name
    backup.snapshot(settings.database_path, path)

    @after_this_request
    def _cleanup(response: Response) -> Response:
        def remove() -> None:
            path.unlink(missing_ok=True)
            folder.rmdir()

        response.call_on_close(remove)
        return response

    return send_file(path, mimetype="application/vnd.sqlite3", as_attachment=True, download_name=name)


def restore_upload(upload: FileStorage | None) -> tuple[backup.BackupInfo, Path | None]:
    """Save the upload to a temporary file, validate it, then restore it. Raises PanicEdgeError."""
    if upload is None or not upload.filename:
        raise BackupError("choose a backup file to restore")
    with tempfile.TemporaryDirectory(prefix="panic-restore-") as tmp:
        path = Path(tmp) / "upload.sqlite3"
        upload.save(path)
        backup.validate(path)  # before anything else is touched
        return control_or_503().restore(path)


@bp.get("/backups")
@admin_required
def page() -> ResponseReturnValue:
    settings = current_app.config["PANIC"]
    info = None
    try:
        info = backup.validate(settings.database_path)
    except BackupError as err:
        flash(f"the live database does not look right: {err}", "error")
    return render_template("backups.html", info=info)


@bp.get("/backups/download")
@admin_required
def download() -> ResponseReturnValue:
    return snapshot_response()


@bp.post("/backups/restore")
@admin_required
def restore() -> ResponseReturnValue:
    try:
        info, kept = restore_upload(request.files.get("backup"))
        flash(f"restored {info.runs} runs and {info.invocations} invocations"
              + (f"; the previous database was kept as {kept.name}" if kept else ""))
    except PanicEdgeError as err:
        flash(f"nothing was changed: {err}", "error")
    return redirect(url_for("backups.page"))
