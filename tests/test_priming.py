"""--prime: a list mail's instruction opens by the mail's kind, the model writes the rest."""

import json

import pytest

from backtranslate.priming import PRIMERS, closed, finish, primer, without_recipient
from backtranslate.records import Record


def _mail(subject: str, parent: str = "", **meta) -> Record:
    return Record(output="Thanks, applied.", input=parent, meta={"format": "eml", "subject": subject, **meta})


def test_the_primer_follows_the_kind_of_mail():
    # A reply is asked for by its thread's subject, its parent the input; a one-word subject names
    # no topic, so the model goes on from the reply's opening.
    assert primer(_mail("Re: [PATCH] fix the leak", parent="> the patch")) == (
        'Reply to the message below about "fix the leak"'
    )
    assert primer(_mail("Re: leak", parent="> the patch")) == "Reply to the"
    # A patch and a cover letter are asked for by their subject, tags and all taken off.
    assert primer(_mail("[PATCH 2/3] fix the leak", patch=True)) == 'Write a patch with the subject "fix the leak"'
    assert primer(_mail("[PATCH v2 00/3 6.1.y] leak fixes")) == (
        'Write the cover letter for the patch series "leak fixes"'
    )
    # Without a subject, the kind's own opening.
    assert primer(_mail("", patch=True)) == PRIMERS["patch"] == "Write a patch"
    # A reply whose parent is not in the corpus has no message below to reply to.
    assert primer(_mail("Re: [PATCH] fix the leak")) == ""
    # A new thread, a Markdown page: nothing says what is asked of them.
    assert primer(_mail("Release planning")) == ""
    assert primer(Record(output="# Install", meta={"format": "md", "title": "Re: [PATCH 0/2] x"})) == ""
    assert primer(Record(output="Install it.", meta={"format": "txt", "title": "Re: [PATCH 0/2] x"})) == ""


def test_a_docs_section_and_an_article_are_primed_by_what_they_are():
    body = " ".join(["Cargo is Rust's build system and package manager, and it builds your code."] * 4)
    section = Record(output=f"## Hello, Cargo!\n\n{body}", meta={"format": "md", "headings": ["Hello, Cargo!"]})
    assert primer(section) == 'Write the documentation section "Hello, Cargo!"'
    # Two sections in one passage (a short one joined to the one before it): a heading names only
    # the text under it, so the model says what the passage explains.
    joined = Record(output=f"{section.output}\n\n## Cargo.lock\n\n{body}", meta=section.meta)
    assert primer(joined) == "Explain how" and closed(joined) == ""
    # A heading and a sentence: "Explain how" would promise what it does not hold.
    stub = Record(output="## Hello, Cargo!\n\nCargo builds your code.", meta=section.meta)
    assert primer(stub) == ""
    # A page's opening before its first heading sits under no section.
    assert primer(Record(output=body, meta={"format": "md", "title": "Book"})) == ""
    for kind in ("article", "newsarticle", "blogposting"):
        assert primer(Record(output="The council voted.", meta={"format": "html", "pagetype": kind})) == (
            "Write an article about"
        )
    # The first passage of an article that goes on is its opening.
    opening = Record(output="The council voted.", meta={"format": "html", "pagetype": "article", "continued": True})
    assert primer(opening) == "Write the opening paragraphs of an article about"
    # Any other page (a product page, a site's front page, one that says nothing) is text to write:
    # the model, unprimed, asked questions such pages do not answer.
    for kind in ("website", "product", None):
        assert primer(Record(output="Buy now.", meta={"format": "html", "pagetype": kind})) == "Write"


def test_an_article_with_a_headline_is_asked_for_by_it():
    meta = {"format": "html", "pagetype": "article", "continued": True}
    titled = Record(output="Scientists unveiled the first map of Titan.", meta={**meta, "title": ""})
    # The site's name and section are set off from the headline; a colon belongs to it.
    titled.meta["title"] = 'Titan: the first "global" map of a moon - Science News | Example Daily'
    assert closed(titled) == (
        "Write the opening paragraphs of an article headlined \"Titan: the first 'global' map of a moon\"."
    )
    whole = Record(output=titled.output, meta={**titled.meta, "continued": False})
    assert closed(whole) == "Write an article headlined \"Titan: the first 'global' map of a moon\"."
    # A title that names no story leaves the model to say what the article is about.
    for title in ("Home - Example Daily", "News", None):
        bare = Record(output=titled.output, meta={**meta, "title": title})
        assert closed(bare) == "" and primer(bare) == "Write the opening paragraphs of an article about"
    # Only an article: another page's title says what the site is, not what the passage asks.
    page = Record(output=titled.output, meta={**titled.meta, "pagetype": "website"})
    assert closed(page) == "" and primer(page) == "Write"


def test_a_docs_section_is_asked_for_by_its_heading_path_and_page():
    body = " ".join(["Patterns can match several values at once, and a match arm runs for any of them."] * 4)

    def section(heading: str, path: list, title="Pattern Syntax", level=2) -> Record:
        return Record(
            output=f"{'#' * level} {heading}\n\n{body}", meta={"format": "md", "headings": path, "title": title}
        )

    # The page's title names the page; the headings above the passage name the section in it.
    assert closed(section("Matching Ranges", ["Pattern Syntax", "Matching Ranges"])) == (
        'Write the section "Matching Ranges" of the documentation page "Pattern Syntax".'
    )
    assert closed(section("Tags", ["Tags and Categories", "Tags"], title="Posts", level=3)) == (
        'Write the section "Tags and Categories > Tags" of the documentation page "Posts".'
    )
    # Under the page's own top heading: the page's opening section.
    assert closed(section("Pattern Syntax", ["Pattern Syntax"], level=1)) == (
        'Write the opening section of the documentation page "Pattern Syntax".'
    )
    # No title: the outermost heading names the page; a double quote in a heading turns single.
    assert closed(section("Using `_`", ["Ignoring Values", 'Using "_"'], title=None)) == (
        "Write the section \"Using '_'\" of the documentation page \"Ignoring Values\"."
    )
    # A page short enough to be one passage is asked for whole, by its title, headings or not.
    whole = Record(output=body, meta={"format": "md", "title": "Blog Migrations", "whole_page": True})
    assert closed(whole) == 'Write the documentation page "Blog Migrations".'
    # Sections joined in one passage: the headings no earlier one of the passage holds.
    joined = "\n\n".join(f"{h}\n\n{body}" for h in ("### Ruby", "### Gems", "#### Notes", "## Verify install"))
    joined = Record(output=joined, meta={"format": "md", "title": "Jekyll on FreeBSD", "headings": ["Setup", "Ruby"]})
    assert closed(joined) == (
        'Write the sections "Ruby", "Gems" and "Verify install" of the documentation page "Jekyll on FreeBSD".'
    )
    # A comment in a code block is no second heading.
    code = section("Install", ["Install"], title="Cargo")
    code = Record(output=f"{code.output}\n\n```sh\n# install it\ncargo install\n```", meta=code.meta)
    assert closed(code) == 'Write the section "Install" of the documentation page "Cargo".'


def test_a_primed_candidate_is_the_primer_and_the_models_continuation_of_it(lively_adapter):
    import torch
    from transformers import AutoModelForCausalLM

    from backtranslate.inference import BackwardModel, Decoding

    passage = _mail("Re: leak", parent="The patch frees the buffer twice.")
    primed = BackwardModel(str(lively_adapter), precision="fp32", prime=True)
    plain = BackwardModel(str(lively_adapter), precision="fp32")
    assert primed.prompt(passage) == plain.prompt(passage) + "Reply to the"
    decoding = Decoding(num_candidates=1, greedy=True, max_new_tokens=8)
    (candidate,) = primed.generate([passage], decoding)
    assert candidate.instruction.startswith("Reply to the") and candidate.meta["primer"] == "Reply to the"
    # The continuation is what the model writes after the primer: greedy decoding of the primed
    # prompt with transformers' own generate, on the merged adapter.
    model = AutoModelForCausalLM.from_pretrained(str(primed.base))
    from peft import PeftModel

    model = PeftModel.from_pretrained(model, str(lively_adapter)).merge_and_unload().eval()
    ids = primed.tokenizer(primed.prompt(passage), add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=8, do_sample=False, pad_token_id=primed.tokenizer.pad_token_id)
    expected = primed.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
    assert candidate.meta["raw"] == ("Reply to the" + expected).strip()
    (unprimed,) = plain.generate([passage], decoding)
    assert "primer" not in unprimed.meta


def test_a_reply_keeps_what_it_answers_and_loses_the_models_guess_at_what_it_does():
    o = PRIMERS["reply"]
    cases = {
        # What the reply does, as the model guessed it, goes: a participle or "and <verb>" clause,
        # "with a patch ...", a quoted message after a colon, a second sentence.
        "Reply to the following email, asking for a patch for the v3 patch.": "Reply to the following email.",
        "Reply to the xfs_reinit_inode() patch below, explaining why it is not a bug.": (
            "Reply to the xfs_reinit_inode() patch below."
        ),
        "Reply to the user who wants to rename the struct, and explain why.": (
            "Reply to the user who wants to rename the struct."
        ),
        "Reply to the sender below asking for a patch.": "Reply to the sender below.",
        "Reply to the following email with a patch for the v1 patch.": "Reply to the following email.",
        "Reply to the thread on the mailing list. Explain why the constant changed.": (
            "Reply to the thread on the mailing list."
        ),
        'Reply to the thread below: "How do I set the page size?"': "Reply to the thread below.",
        # What it says about the message answered stays, and so does its own punctuation.
        "Reply to the following comment on the net/mptcp/crypto_test.c patch.": (
            "Reply to the following comment on the net/mptcp/crypto_test.c patch."
        ),
        "Reply to the user who says the v2.1 warnings are wrong and that the default is idiotic.": (
            "Reply to the user who says the v2.1 warnings are wrong and that the default is idiotic."
        ),
        "Reply to the GCC user who has a question?": "Reply to the GCC user who has a question?",
        # Nothing left but the primer: the instruction stays as the model wrote it.
        "Reply to the, asking for more.": "Reply to the, asking for more.",
    }
    for written, kept in cases.items():
        assert finish(written, o) == kept, written
    # Only a reply's primer is cut after: other openings, or none, keep what the model wrote.
    assert finish("Explain how to install it, explaining each step.", "Explain how") == (
        "Explain how to install it, explaining each step."
    )
    assert finish("Reply to the email, asking for a patch.", "") == "Reply to the email, asking for a patch."


def test_an_email_loses_the_recipient_the_model_guessed():
    cases = {
        # The recipient goes; what the mail is about or does stays.
        "Write a brief email to the finance team about the CSV export error.": (
            "Write a brief email about the CSV export error."
        ),
        "Write a short email to the Atlas team announcing the migration, and the next steps.": (
            "Write a short email announcing the migration, and the next steps."
        ),
        "Write a short email to <PERSON_1> about the Q3 plan.": "Write a short email about the Q3 plan.",
        "Write a note to the team, thanking them for the launch.": "Write a note, thanking them for the launch.",
        # What the mail is for is no recipient.
        "Write an email to announce the new office hours.": "Write an email to announce the new office hours.",
        # Nothing would be left but "Write a brief email.": as written.
        "Write a brief email to the customer who submitted the invoice INV-2025-0193.": (
            "Write a brief email to the customer who submitted the invoice INV-2025-0193."
        ),
        "Explain how to set up the VPN.": "Explain how to set up the VPN.",
    }
    for written, kept in cases.items():
        assert without_recipient(written) == kept, written
    # Only an instruction the model wrote from scratch: a primed one is the primer's business.
    assert finish("Write a brief email to the finance team about the error.", "") == (
        "Write a brief email about the error."
    )
    assert finish("Reply to the email to the finance team about the error.", "Reply to the") == (
        "Reply to the email to the finance team about the error."
    )


def test_a_patch_with_a_subject_is_asked_for_by_it_and_no_model(lively_adapter):
    from backtranslate.inference import BackwardModel, Decoding

    patch = _mail("[PATCH 2/3] fix the leak", patch=True)
    cover = _mail("[PATCH v2 0/3] leak fixes")
    assert closed(patch) == 'Write a patch with the subject "fix the leak".'
    assert closed(cover) == 'Write the cover letter for the patch series "leak fixes".'
    assert closed(_mail('Re: [PATCH] the "leak" fix', parent="> x")) == (
        "Reply to the message below about \"the 'leak' fix\"."
    )
    # No subject, a one-word one, a docs section: the model writes (the rest of) the instruction.
    assert closed(_mail("", patch=True)) == closed(_mail("Re: fix", parent="> x")) == ""
    assert closed(Record(output="## Install\n\nRun it.", meta={"format": "md", "headings": ["Install"]})) == ""

    reply = _mail("Re: leak", parent="The patch frees the buffer twice.")
    decoding = Decoding(num_candidates=2, greedy=False, max_new_tokens=8, seed=3)
    model = BackwardModel(str(lively_adapter), precision="fp32", prime=True)
    rows = list(model.generate([patch, reply, cover], decoding))
    # In passage order: one candidate for a closed instruction (no tokens generated), K for the reply.
    assert [r.meta["passage_id"] for r in rows] == [patch.id, reply.id, reply.id, cover.id]
    assert rows[0].instruction == closed(patch) and rows[0].meta["generated_tokens"] == 0
    assert rows[3].instruction == closed(cover) and rows[3].meta["candidate"] == 0
    assert all(r.meta["generated_tokens"] > 0 and r.instruction.startswith("Reply to the") for r in rows[1:3])
    # Without --prime the model writes every instruction.
    plain = list(BackwardModel(str(lively_adapter), precision="fp32").generate([patch], decoding))
    assert len(plain) == 2 and all(r.meta["generated_tokens"] > 0 for r in plain)


@pytest.mark.parametrize("prime", [True, False])
def test_generate_primes_the_replies_of_a_mail_corpus(tiny_adapter, tmp_path, prime):
    from backtranslate.generate import generate
    from tests.test_generate import _cfg

    generate(_cfg(tiny_adapter, tmp_path, email_mode="auto", filter=False, prime=prime))
    candidates = [json.loads(line) for line in (tmp_path / "ds" / "candidates.jsonl").read_text().splitlines()]
    replies = [c for c in candidates if c["input"]]
    assert len(replies) >= 10  # corpora/emails: thirteen replies whose parents it holds
    assert all(c["instruction"].startswith("Reply to the") == prime for c in replies)
    assert not any(c["instruction"].startswith("Reply to the") for c in candidates if not c["input"])
    stats = json.loads((tmp_path / "ds" / "stats.json").read_text())
    assert stats["settings"]["prime"] is prime


def test_confidence_scores_a_primed_instruction_after_the_unprimed_prompt(lively_adapter):
    from backtranslate.filters.confidence import Confidence
    from backtranslate.inference import BackwardModel

    pair = _mail("Re: [PATCH] fix the leak", parent="The patch frees the buffer twice.")
    pair = Record(output=pair.output, input=pair.input, instruction="Reply to the patch below.", meta=pair.meta)
    primed = BackwardModel(str(lively_adapter), precision="fp32", prime=True)
    plain = BackwardModel(str(lively_adapter), precision="fp32")
    # The primer is part of the instruction: it is not in the prompt a second time.
    assert Confidence(model=primed).logprobs([pair]) == Confidence(model=plain).logprobs([pair])
