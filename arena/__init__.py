"""Blind side-by-side comparisons (arena): studies, raters, battles, votes, ratings.

No Gradio here: the Arena and Leaderboard tabs call these functions. Typical flow::

    from arena import *

    store = open_store("sqlite:///arena.db")              # or open_store(data_dir=...)
    ensure_study(store, "bimedix-2025", access_code="4711")  # at app start-up
    rater = join_study(store, "bimedix-2025", "Dr Sara", access_code=typed_code)
    #   ... or, once the organiser gives raters personal codes (then a typed name is refused):
    sara, code = create_rater(store, "bimedix-2025", "Dr Sara")   # the code: shown only now
    rater = join_with_code(store, "bimedix-2025", typed_personal_code)  # -> Dr Sara
    #   guessing slows down behind an AttemptLimiter per kind of attempt (arena/limits.py),
    #   counted in the store (one count for every replica; without store=: in this process):
    joins = AttemptLimiter("arena join", store=store)
    client = client_address(request)                      # the peer, or what a trusted proxy says
    joins.admit(client, "bimedix-2025")                   # ArenaError("too_many_attempts")
    joins.admit(client, "bimedix-2025", personal_code=True)  # others' failures do not refuse it
    joins.record_failure(client, "bimedix-2025")          # after a wrong code
    battle = start_battle(store, rater, ["bimedix2-8b", "bimedix-bi", "card:adapter"])
    #   ... stream both sides: battle.model_a behind "Model A", battle.model_b behind "B" ...
    receipt = record_vote(store, battle.id, rater, "model_a", messages_a, messages_b,
                          settings, reason="clearer dosing", rater_language="ar")
    #   receipt.model_a / receipt.model_b: the identities, shown only now
    boards = store_leaderboards(store, "bimedix-2025")    # {"all","ar","en","mixed"}
    boards["all"].to_frame()                              # the table; .win_rates the matrix
    if verify_access_code(store, "bimedix-2025", code):
        study_progress(store, "bimedix-2025")             # the admin view
    export_votes(store, jsonl="votes.jsonl", csv_path="votes.csv")
    #   LLM judges vote as raters "judge:<model>", kept out of all the above unless asked:
    record_judge_verdict(store, "bimedix-2025", "gpt-4o", "bimedix2-8b", "bimedix-bi", "model_a",
                         messages_a, messages_b, verdict_ab="model_a", verdict_ba="model_a",
                         prompt_version="v1", source_battle_id=battle.id)
    judge_leaderboards(store, "bimedix-2025")             # {"gpt-4o": Leaderboard}
    judge_agreement(store, "bimedix-2025")                # [JudgeAgreement(agreement=..., ...)]

Every user-facing failure is an `ArenaError` (a `engine.errors.UserFacingError`) with a
`.code` and `.message(lang)` in Arabic or English; see arena/errors.py for the codes.
"""

from arena.errors import ArenaError
from arena.export import export_votes, read_csv_records, write_csv, write_jsonl
from arena.leaderboard import (Leaderboard, LeaderboardRow, build_leaderboard,
                               leaderboards_by_language, store_leaderboards)
from arena.judges import (JUDGE_PREFIX, JudgeAgreement, is_judge_rater, judge_agreement, judge_leaderboards,
                          judge_rater_name, record_judge_verdict)
from arena.leaks import LeakReport, find_identity_leaks
from arena.addresses import TrustedProxies, client_address
from arena.limits import VOTE_POLICY, WRONG_CODE_ERRORS, AttemptLimiter, LimitPolicy
from arena.progress import RaterProgress, study_progress
from arena.rater_codes import (RaterCodeStatus, create_rater, join_with_code, list_raters, new_rater_code,
                                normalise_rater_code, revoke_rater_code, study_has_personal_raters)
from arena.ratings import (bootstrap_bradley_terry, fit_bradley_terry, online_elo, record_counts,
                           win_rate_matrix)
from arena.records import VoteRecord, battles_frame, load_votes
from arena.store import ArenaStore, database_url, default_data_dir, open_store
from arena.study import (BattleInfo, Pair, RaterInfo, StudyInfo, draw_pair, ensure_study, get_study,
                         join_study, list_studies, set_access_code, start_battle, verify_access_code)
from arena.tables import CONVERSATION_LANGUAGES, WINNERS
from arena.transcripts import conversation_language
from arena.votes import RATER_LANGUAGES, VoteReceipt, record_vote

__all__ = [
    "ArenaError", "ArenaStore", "AttemptLimiter", "BattleInfo", "CONVERSATION_LANGUAGES",
    "JUDGE_PREFIX", "JudgeAgreement", "Leaderboard", "LeaderboardRow", "LeakReport", "LimitPolicy",
    "Pair", "RATER_LANGUAGES", "RaterCodeStatus", "RaterInfo", "RaterProgress", "StudyInfo",
    "VOTE_POLICY", "VoteReceipt", "VoteRecord", "WINNERS", "WRONG_CODE_ERRORS", "battles_frame",
    "bootstrap_bradley_terry", "build_leaderboard", "client_address", "conversation_language",
    "create_rater", "database_url", "default_data_dir", "draw_pair", "ensure_study", "export_votes",
    "find_identity_leaks", "fit_bradley_terry", "get_study", "is_judge_rater", "join_study",
    "join_with_code", "judge_agreement", "judge_leaderboards", "judge_rater_name",
    "leaderboards_by_language", "list_raters", "list_studies", "load_votes", "new_rater_code",
    "normalise_rater_code", "online_elo", "open_store", "read_csv_records", "record_counts",
    "record_judge_verdict", "record_vote", "revoke_rater_code", "set_access_code", "start_battle",
    "store_leaderboards", "study_has_personal_raters", "study_progress", "TrustedProxies", "verify_access_code",
    "win_rate_matrix", "write_csv", "write_jsonl",
]
