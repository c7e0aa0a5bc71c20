"""The Leaderboard tab: ratings from the arena's votes, per conversation language, and the
organiser's view (progress per rater, export of every vote with both transcripts).

The numbers come from arena/ (the same code as `python -m evaluate.arena_ratings`), so
the tab and the command line always agree.
"""

from __future__ import annotations

import hmac
import tempfile
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pandas as pd

from arena import ArenaStore, battles_frame, build_leaderboard, export_votes, load_votes, study_progress
from engine.errors import UserFacingError
from ui.common import warn
from ui.labels import Labels, Text
from ui.strings import text

# Fewer bootstrap rounds than the command line's default: the tab recomputes on demand.
UI_BOOTSTRAP_ROUNDS = 200
PROGRESS_COLUMNS = ["display_name", "battles_started", "votes", "flagged_votes", "last_activity"]


def language_choices(lang: str) -> list[tuple[str, str]]:
    return [(text("lb_all", lang), "all"), ("العربية", "ar"), ("English", "en"), (text("lb_mixed", lang), "mixed")]


class LeaderboardHandlers:
    def __init__(self, store: ArenaStore, study: str, admin_code: str | None):
        self.store, self.study, self.admin_code = store, study, admin_code

    def show(self, language: str, include_flagged: bool, ui_lang: str):
        """Returns summary, table, plot, win-rate matrix."""
        try:
            battles = battles_frame(load_votes(self.store, self.study, include_flagged=True))
            # Only the view asked for: each one is a bootstrap of its own.
            board = build_leaderboard(battles, language or "all", include_flagged=include_flagged,
                                      rounds=UI_BOOTSTRAP_ROUNDS)
        except UserFacingError as error:  # e.g. the database is busy
            warn(error, ui_lang)
            return gr.update(), gr.update(), gr.update(), gr.update()
        table = board.to_frame().round({"rating": 1, "ci_low": 1, "ci_high": 1, "elo": 1, "win_rate": 3})
        if table.empty:
            return text("lb_empty", ui_lang), table, table, pd.DataFrame()
        summary = text("lb_summary", ui_lang).format(battles=board.battles, flagged=board.flagged_excluded)
        if not board.ratings_finite:
            summary += "\n\n⚠️ " + text("lb_not_finite", ui_lang)
        matrix = board.win_rates.round(3).reset_index(names="model")
        return summary, table, table[["model", "rating"]], matrix

    def progress(self, code: str, ui_lang: str):
        """Returns the progress table and the export files (both hidden unless allowed)."""
        if not self._allowed(code, ui_lang):
            return gr.update(value=None, visible=False), gr.update(value=None, visible=False)
        rows = [{column: getattr(row, column) for column in PROGRESS_COLUMNS}
                for row in study_progress(self.store, self.study)]
        return gr.update(value=pd.DataFrame(rows, columns=PROGRESS_COLUMNS), visible=True), gr.update(visible=False)

    def export(self, code: str, ui_lang: str):
        if not self._allowed(code, ui_lang):
            return gr.update(value=None, visible=False)
        from ui.export import default_root

        root = default_root()
        root.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="arena-", dir=root))
        jsonl, csv = folder / "arena-votes.jsonl", folder / "arena-votes.csv"
        export_votes(self.store, jsonl=jsonl, csv_path=csv, study=self.study)
        return gr.update(value=[str(jsonl), str(csv)], visible=True)

    def _allowed(self, code: str, ui_lang: str) -> bool:
        if not self.admin_code:
            gr.Warning(text("admin_closed", ui_lang))
            return False
        if not hmac.compare_digest((code or "").strip().encode(), self.admin_code.encode()):
            gr.Warning(text("admin_denied", ui_lang))
            return False
        return True


def build_leaderboard_tab(handlers: LeaderboardHandlers, ui_lang, labels: Labels) -> SimpleNamespace:
    """Inside a gr.Tabs: the Leaderboard tab, wired; its texts go to `labels`."""
    w = SimpleNamespace()
    with labels.make(gr.Tab, label=Text("leaderboard_tab"), id="leaderboard", elem_id="leaderboard-tab") as w.tab:
        with gr.Row(equal_height=True):
            w.language = labels.make(gr.Radio, choices=Text(language_choices), value="all",
                                     label=Text("lb_language"), elem_id="lb-language")
            w.include_flagged = labels.make(gr.Checkbox, value=False, label=Text("lb_include_flagged"),
                                            elem_id="lb-flagged")
            w.refresh = labels.make(gr.Button, value=Text("lb_refresh"), elem_id="lb-refresh", scale=0,
                                    min_width=120)
        w.summary = gr.Markdown(elem_id="lb-summary")
        w.table = labels.make(gr.Dataframe, label=Text("lb_table"), interactive=False, elem_id="lb-table")
        w.plot = labels.make(gr.BarPlot, x="model", y="rating", label=Text("lb_plot"), elem_id="lb-plot")
        w.win_rates = labels.make(gr.Dataframe, label=Text("lb_win_rates"), interactive=False,
                                  elem_id="lb-win-rates")
        with labels.make(gr.Accordion, label=Text("admin"), open=False, elem_id="lb-admin"):
            w.admin_code = labels.make(gr.Textbox, label=Text("admin_code"), type="password",
                                       elem_id="lb-admin-code")
            with gr.Row():
                w.admin_show = labels.make(gr.Button, value=Text("admin_show"), elem_id="lb-admin-show")
                w.admin_export = labels.make(gr.Button, value=Text("admin_export"), elem_id="lb-admin-export")
            w.progress = gr.Dataframe(interactive=False, visible=False, elem_id="lb-progress")
            w.export_files = labels.make(gr.File, label=Text("admin_files"), file_count="multiple",
                                         interactive=False, visible=False, elem_id="lb-export-files")
    shown = [w.summary, w.table, w.plot, w.win_rates]
    inputs = [w.language, w.include_flagged, ui_lang]
    for event in (w.refresh.click, w.language.change, w.include_flagged.change, w.tab.select):
        event(handlers.show, inputs, shown, api_name=False)
    w.admin_show.click(handlers.progress, [w.admin_code, ui_lang], [w.progress, w.export_files], api_name=False)
    w.admin_export.click(handlers.export, [w.admin_code, ui_lang], [w.export_files], api_name=False)
    return w
