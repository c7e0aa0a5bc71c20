"""The Leaderboard tab: ratings from the arena's votes, per conversation language, LLM
judges' ratings beside them with their agreement (ui/judge_board.py; never mixed into the
raters' board), and the organiser's view (progress per rater, export of every vote with
both transcripts).

The numbers come from arena/ (the same code as `python -m evaluate.arena_ratings`), so
the tab and the command line always agree. Only what is shown is translated: the tables'
headers are values, not labels, so the board is shown again when the interface language
changes; the columns keep arena/'s names underneath (arena.leaderboard.COLUMNS).
"""

from __future__ import annotations

import hashlib
import hmac
import tempfile
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import gradio as gr
import pandas as pd

from arena import ArenaStore, battles_frame, build_leaderboard, export_votes, load_votes, study_progress
from arena import ArenaError, AttemptLimiter, Leaderboard, client_address, create_rater, list_raters
from arena.leaderboard import COLUMNS, MIN_MODEL_BATTLES, MIN_VOTES, rating_axis, shared_rank_marks
from engine.errors import UserFacingError
from ui.common import markdown_escaped, warn, warning
from ui.downloads import Downloads, links_html
from ui.icons import icon
from ui.judge_board import JudgeSection
from ui.progress_table import progress_frame, progress_rows
from ui.labels import Labels, Text
from ui.sessions import browser_of
from ui.strings import text

# Fewer bootstrap rounds than the command line's default: the tab recomputes on demand.
UI_BOOTSTRAP_ROUNDS = 200
# Boards kept per handler: a language switch, a second look at the tab or another session
# shows the same votes again, and each board is a bootstrap of its own (~1-2 s).
CACHED_BOARDS = 16
NO_CHANGE = (gr.update(), gr.update(), gr.update(), gr.update())


def column_headers(lang: str) -> dict[str, str]:
    """arena.leaderboard.COLUMNS -> the tab's header for it in `lang`."""
    return {column: text(f"lb_col_{column}", lang) for column in COLUMNS}


def language_choices(lang: str) -> list[tuple[str, str]]:
    return [(text("lb_all", lang), "all"), ("العربية", "ar"), ("English", "en"), (text("lb_mixed", lang), "mixed")]


class LeaderboardHandlers:
    def __init__(self, store: ArenaStore, study: str, admin_code: str | None, downloads: Downloads | None = None,
                 shown_name: Callable[[str], str] = str):
        """`shown_name`: a contestant id as the public board names it (no server paths)."""
        self.store, self.study, self.admin_code = store, study, admin_code
        self.downloads = downloads or Downloads()
        self.shown_name = shown_name
        # Organiser-code checks, shared by every session and every replica (counted in the
        # store): guesses are limited and locked out.
        self.admin_limiter = AttemptLimiter("organiser code", store=store)
        self._boards: dict[tuple, Leaderboard] = {}
        self._boards_lock = threading.Lock()  # handlers run in Gradio's worker threads
        self.judges = JudgeSection(store, study, UI_BOOTSTRAP_ROUNDS, shown_name)

    def show(self, language: str, include_flagged: bool, ui_lang: str):
        """Returns summary, table, plot, win-rate matrix, with headers in `ui_lang`."""
        try:
            board = self._board(language or "all", bool(include_flagged))
        except UserFacingError as error:  # e.g. the database is busy
            warn(error, ui_lang)
            return NO_CHANGE
        headers = column_headers(ui_lang)
        table = board.to_frame().round({"rating": 1, "ci_low": 1, "ci_high": 1, "elo": 1, "win_rate": 3})
        table["model"] = table["model"].map(self.shown_name)
        # The plot keeps the column names it was built with (x="model", y="rating"); its axis
        # titles are labels, relabelled with the rest (build_leaderboard_tab).
        # Its value axis always spans the prior's 1000 ± 200, so a small gap looks small.
        plot = gr.update(value=table[["model", "rating"]], y_lim=rating_axis(board))
        table["rank"] = shared_rank_marks(table["rank"])  # "=1": a tie, said as one
        if table.empty:
            no_matrix = pd.DataFrame(columns=[headers["model"]])
            return text("lb_empty", ui_lang), table.rename(columns=headers), plot, no_matrix
        matrix = board.win_rates.round(3).rename(index=self.shown_name, columns=self.shown_name)
        matrix = matrix.reset_index(names=headers["model"])
        return board_summary(board, ui_lang), table.rename(columns=headers), plot, matrix

    def show_again(self, summary: str, language: str, include_flagged: bool, ui_lang: str):
        """After an interface-language switch: the board in the new language, if it has been
        shown at all (its summary is empty until then): the rest have nothing to translate."""
        return self.show(language, include_flagged, ui_lang) if summary else NO_CHANGE

    def show_judges(self, language: str, include_flagged: bool, ui_lang: str):
        """The Judges section beside the raters' board (ui/judge_board.py): a Markdown, empty
        while no LLM judge has voted."""
        try:
            return self.judges.markdown(language or "all", bool(include_flagged), ui_lang)
        except UserFacingError:  # `show` runs on the same events and has said what went wrong
            return gr.update()

    def show_judges_again(self, summary: str, language: str, include_flagged: bool, ui_lang: str):
        """After an interface-language switch, as `show_again`."""
        return self.show_judges(language, include_flagged, ui_lang) if summary else gr.update()

    def _board(self, language: str, include_flagged: bool) -> Leaderboard:
        """The view over the study's votes now: computed once per set of votes (the cache
        key holds a digest of the whole battle table, so a new vote makes a new board)."""
        battles = battles_frame(load_votes(self.store, self.study, include_flagged=True))
        digest = hashlib.sha256(pd.util.hash_pandas_object(battles, index=False).to_numpy().tobytes()).digest()
        key = (language, include_flagged, len(battles), digest)
        with self._boards_lock:
            board = self._boards.get(key)
        if board is None:
            # Only the view asked for: each one is a bootstrap of its own.
            board = build_leaderboard(battles, language, include_flagged=include_flagged, rounds=UI_BOOTSTRAP_ROUNDS)
            with self._boards_lock:
                while len(self._boards) >= CACHED_BOARDS:
                    self._boards.pop(next(iter(self._boards)))  # the oldest
                self._boards[key] = board
        return board

    def progress(self, code: str, ui_lang: str, request: gr.Request | None = None):
        """Returns the progress table and the export files (both hidden unless allowed), and
        the table's rows as arena/ gives them (kept for a language switch: `progress_again`).
        The table says where each rater's personal code stands (active, revoked, none)."""
        if not self._allowed(code, ui_lang, request):
            return gr.update(value=None, visible=False), gr.update(value=None, visible=False), None
        code_states = {rater.rater_id: rater.code_state for rater in list_raters(self.store, self.study)}
        rows = progress_rows(study_progress(self.store, self.study), code_states)
        return gr.update(value=progress_frame(rows, ui_lang), visible=True), gr.update(visible=False), rows

    @staticmethod
    def progress_again(rows: list[dict] | None, ui_lang: str):
        """After an interface-language switch: the table shown in the new language, from the
        rows already shown (the organiser code is not asked for again); nothing if none was."""
        return gr.update() if rows is None else gr.update(value=progress_frame(rows, ui_lang))

    def add_rater(self, code: str, name: str, ui_lang: str, request: gr.Request | None = None):
        """Returns the new rater's code (a Markdown shown once: only its digest is stored),
        the name box (emptied once the rater is added) and what the Markdown says, kept
        in this session's gr.State (never logged) for a language switch: `rater_code_again`."""
        hidden = gr.update(value="", visible=False)
        if not self._allowed(code, ui_lang, request):
            return hidden, gr.update(), None
        try:
            rater, rater_code = create_rater(self.store, self.study, name or "")
        except UserFacingError as error:  # a name already coded, an empty name, a busy database
            warn(error, ui_lang)
            return hidden, gr.update(), None
        shown = {"name": rater.display_name, "code": rater_code}
        return gr.update(value=rater_code_message(shown, ui_lang), visible=True), gr.update(value=""), shown

    @staticmethod
    def rater_code_again(shown: dict | None, ui_lang: str):
        """After an interface-language switch: the new rater's code said in the new
        language; nothing if none is shown."""
        return gr.update() if not shown else gr.update(value=rater_code_message(shown, ui_lang))

    def export(self, code: str, ui_lang: str, request: gr.Request = None):
        """Every vote as JSONL and CSV: one-time downloads for this browser (ui/downloads.py).
        Returns the links with their note, and the links (kept for a language switch:
        `export_again`)."""
        if not self._allowed(code, ui_lang, request):
            return gr.update(value="", visible=False), None
        with tempfile.TemporaryDirectory() as folder:
            jsonl, csv = Path(folder) / "arena-votes.jsonl", Path(folder) / "arena-votes.csv"
            export_votes(self.store, jsonl=jsonl, csv_path=csv, study=self.study, shown_name=self.shown_name)
            files = [(path.name, path.read_bytes()) for path in (jsonl, csv)]
        owner = browser_of(request)
        urls = [self.downloads.offer(owner, name, data) for name, data in files]
        return gr.update(value=links_html(urls, text("download_once", ui_lang)), visible=True), urls

    @staticmethod
    def export_again(urls: list[str] | None, ui_lang: str):
        """After an interface-language switch: the same links, their note in the new
        language (a link already used says so when clicked); nothing if none are shown."""
        return gr.update() if not urls else gr.update(value=links_html(urls, text("download_once", ui_lang)))

    def _allowed(self, code: str, ui_lang: str, request: gr.Request | None = None) -> bool:
        """Whether `code` is the organiser code, within the attempt limits: while the client
        (or everyone) is locked out even the right code is refused."""
        if not self.admin_code:
            warning(text("admin_closed", ui_lang), ui_lang)
            return False
        client = client_address(request)
        try:
            self.admin_limiter.admit(client, self.study)
        except ArenaError as error:
            warn(error, ui_lang)
            return False
        if not hmac.compare_digest((code or "").strip().encode(), self.admin_code.encode()):
            if (code or "").strip():  # an empty box guesses nothing
                self.admin_limiter.record_failure(client, self.study)
            warning(text("admin_denied", ui_lang), ui_lang)
            return False
        return True


def rater_code_message(shown: dict, lang: str) -> str:
    """The new rater's name and code as the organiser reads them in `lang` (each in a <bdi>:
    admin_rater_code); the name is shown as typed, never as Markdown."""
    return text("admin_rater_code", lang).format(name=markdown_escaped(shown["name"]), code=shown["code"])


def board_summary(board: Leaderboard, lang: str) -> str:
    """What the counts mean, in `lang`; first, while the view is provisional, that it is."""
    parts = [text("lb_summary", lang).format(battles=board.battles, flagged=board.flagged_excluded)
             + " " + text("lb_prior", lang)]
    if board.provisional:
        parts.insert(0, icon("warning", lang) + " " + text("lb_too_few", lang).format(votes=MIN_VOTES, battles=MIN_MODEL_BATTLES))
    if not board.ratings_finite:
        parts.append(icon("warning", lang) + " " + text("lb_not_finite", lang))
    if any(mark.startswith("=") for mark in shared_rank_marks(row.rank for row in board.rows)):
        parts.append(text("lb_rank_shared", lang))
    return "\n\n".join(parts)


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
        w.plot = labels.make(gr.BarPlot, x="model", y="rating", label=Text("lb_plot"), x_title=Text("lb_col_model"),
                             y_title=Text("lb_col_rating"), elem_id="lb-plot")
        w.win_rates = labels.make(gr.Dataframe, label=Text("lb_win_rates"), interactive=False,
                                  elem_id="lb-win-rates")
        w.judges = gr.Markdown(elem_id="lb-judges")  # LLM judges: nothing until one has voted
        with labels.make(gr.Accordion, label=Text("admin"), open=False, elem_id="lb-admin"):
            w.admin_code = labels.make(gr.Textbox, label=Text("admin_code"), type="password",
                                       elem_id="lb-admin-code")
            with gr.Row():
                w.admin_show = labels.make(gr.Button, value=Text("admin_show"), elem_id="lb-admin-show")
                w.admin_export = labels.make(gr.Button, value=Text("admin_export"), elem_id="lb-admin-export")
            w.progress = gr.Dataframe(interactive=False, visible=False, elem_id="lb-progress")
            w.progress_rows = gr.State(None)  # what the table shows, re-rendered in a new language
            # Links to one-time downloads, not a gr.File: its URLs show server paths.
            w.export_files = gr.HTML("", visible=False, elem_id="lb-export-files")
            with gr.Row(equal_height=True):
                w.new_rater_name = labels.make(gr.Textbox, label=Text("admin_rater_name"), max_length=64,
                                               elem_id="lb-rater-name", scale=3)
                w.add_rater = labels.make(gr.Button, value=Text("admin_add_rater"), elem_id="lb-add-rater", scale=1)
            # A Markdown, not a Textbox: the code is shown, not kept in an input the page resends.
            w.new_rater_code = gr.Markdown(visible=False, elem_id="lb-rater-code")
            # What the two messages above say, re-rendered in a new interface language.
            w.rater_code_shown, w.export_shown = gr.State(None), gr.State(None)
    shown = [w.summary, w.table, w.plot, w.win_rates]
    inputs = [w.language, w.include_flagged, ui_lang]
    for event in (w.refresh.click, w.language.change, w.include_flagged.change, w.tab.select):
        event(handlers.show, inputs, shown, api_name=False)
        event(handlers.show_judges, inputs, [w.judges], api_name=False)
    ui_lang.change(handlers.show_again, [w.summary, *inputs], shown, api_name=False)
    ui_lang.change(handlers.show_judges_again, [w.summary, *inputs], [w.judges], api_name=False)
    w.admin_show.click(handlers.progress, [w.admin_code, ui_lang], [w.progress, w.export_files, w.progress_rows],
                       api_name=False)
    ui_lang.change(handlers.progress_again, [w.progress_rows, ui_lang], [w.progress], api_name=False)
    w.add_rater.click(handlers.add_rater, [w.admin_code, w.new_rater_name, ui_lang],
                      [w.new_rater_code, w.new_rater_name, w.rater_code_shown], api_name=False)
    ui_lang.change(handlers.rater_code_again, [w.rater_code_shown, ui_lang], [w.new_rater_code], api_name=False)
    w.admin_export.click(handlers.export, [w.admin_code, ui_lang], [w.export_files, w.export_shown], api_name=False)
    ui_lang.change(handlers.export_again, [w.export_shown, ui_lang], [w.export_files], api_name=False)
    return w
