"""Passage hygiene on real-shaped text written for these tests: patch mails, quoted replies,
list footers, machine mail, Markdown with HTML and directives, long code blocks, cuts that would
start mid-sentence. Each test asserts the cleaned text or the reason a passage goes."""

from collections import Counter
from pathlib import Path

import pytest

from backtranslate.filters import FilterStats, Patch, Standalone, apply_filters, default_passage_filters, junk
from backtranslate.passages import segment_all
from backtranslate.readers.corpus import AUTO_MAIL, ReadStats, read_corpus
from backtranslate.readers.email_text import clean_body
from backtranslate.readers.markdown_text import clean_markdown, title
from backtranslate.records import Record
from backtranslate.threads import ThreadStats, thread_records

PATCH_MAIL = """\
From: Ines Moreau <ines@example.org>
To: dev@lists.example.org
Subject: [PATCH v2] parser: reject empty section names
Message-ID: <patch-1@example.org>
Date: Tue, 2 Mar 2021 10:11:12 +0100

An empty section name made the parser index past the end of its buffer
and crash on files with a line holding only "[]".

Reject such names with a clear error instead.

Signed-off-by: Ines Moreau <ines@example.org>
Reviewed-by: Tom Berg <tom@example.org>
---
 src/parser.c | 4 ++++
 1 file changed, 4 insertions(+)

diff --git a/src/parser.c b/src/parser.c
index 3b18e51..a9d4c2f 100644
--- a/src/parser.c
+++ b/src/parser.c
@@ -120,6 +120,10 @@ static int parse_section(struct parser *p)
 \tconst char *name = p->cur + 1;
 \tsize_t len = strcspn(name, "]");
+\tif (len == 0) {
+\t\tparser_error(p, "empty section name");
+\t\treturn -1;
+\t}
 \treturn add_section(p, name, len);
 }
--
2.30.1

_______________________________________________
dev mailing list
dev@lists.example.org
https://lists.example.org/listinfo/dev
"""

REPLY_MAIL = """\
From: Tom Berg <tom@example.org>
To: dev@lists.example.org
Subject: Re: [PATCH v2] parser: reject empty section names
Message-ID: <reply-1@example.org>
In-Reply-To: <patch-1@example.org>
References: <patch-1@example.org>

Excerpts from Ines Moreau's message of 2021-03-02 10:11:12 +0100:
> Reject such names with a clear error instead.

Looks right to me. Could you add a test case with "[]" to tests/sections.txt
so the crash cannot come back?

On Tue, Mar 2, 2021 at 10:11 AM Ines Moreau
<ines@example.org> wrote:
> +	if (len == 0) {

Also, the error message should name the line number.

Cc: Ana Lind <ana@example.org>
"""

ORPHAN_MAIL = """\
From: Ana Lind <ana@example.org>
Subject: Re: build fails on ARM
Message-ID: <orphan-1@example.org>
In-Reply-To: <not-in-this-archive@example.org>

Never mind. I see that it has been fixed already in the main branch.
"""

BOUNCE_MAIL = """\
From: Mail Delivery System <MAILER-DAEMON@example.org>
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
Message-ID: <bounce-1@example.org>

This is the mail system. Your message could not be delivered to one or more recipients.
"""

MARKDOWN_PAGE = """\
---
title: Caching results
layout: docs
permalink: /docs/caching/
---

# Caching results {#caching}

<aside markdown="1" class="pquote">
  <img src="/img/cache.png" alt="">
</aside>

{% include note.html content="Available since 2.0" %}
{{#include ../listings/cache/config.toml}}
{{< highlight toml >}}

![Cache diagram](/img/cache-diagram.png)

[Edit this page](https://example.org/edit/caching.md)

The cache keeps the <strong>results</strong> of each query for the configured number
of seconds. Entries are evicted when the cache is full, oldest first.

## Configuration

Set the lifetime and the size in the `[cache]` table of the configuration file.

```toml
[cache]
ttl = 300

# the largest number of entries
size = 10000
```
"""


def _docs(tmp_path: Path, files: dict[str, str], **kw) -> list[Record]:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return list(read_corpus(str(tmp_path), **kw))


class _Meter:  # a whitespace tokenizer: token counts the tests can reason about
    def count(self, text: str) -> int:
        return len(text.split())

    def counts(self, texts: list[str]) -> list[int]:
        return [self.count(t) for t in texts]

    def over(self, text: str, limit: int) -> bool:
        return self.count(text) > limit

    def offsets(self, text: str) -> list[tuple[int, int]]:
        import re

        return [m.span() for m in re.finditer(r"\S+", text)]


def _passages(docs, max_tokens=200, min_tokens=5):
    return list(segment_all(docs, _Meter(), min_tokens, max_tokens))


def _filtered(passages, **overrides):
    stats, rejects = FilterStats(), []
    kept = list(apply_filters(passages, default_passage_filters(**overrides), stats, on_reject=rejects.append))
    return kept, rejects


# --- mail ------------------------------------------------------------------------------------


def test_a_patch_mail_is_one_passage_with_its_description_and_no_trailers_or_footer(tmp_path):
    stats = ReadStats()
    (tmp_path / "p.eml").write_text(PATCH_MAIL)
    [doc] = list(read_corpus(str(tmp_path), stats=stats))
    assert doc.meta["patch"] is True
    assert "Signed-off-by" not in doc.output and "Reviewed-by" not in doc.output
    assert "mailing list" not in doc.output and "listinfo" not in doc.output
    assert "An empty section name" in doc.output and "+\tif (len == 0) {" in doc.output
    assert stats.cleaned["trailers"] == 2  # the footer went with git's "--" version line below the diff
    assert stats.cleaned["diffstat"] == 2 and "src/parser.c | 4" not in doc.output
    [passage] = _passages([doc])
    assert passage.output == doc.output  # one unit: description and diff together
    assert not junk.diff_hunk(passage.output)
    kept, _ = _filtered([passage])
    assert kept == [passage]


def test_a_patch_too_long_to_keep_whole_is_dropped_never_cut_into_hunks(tmp_path):
    (tmp_path / "p.eml").write_text(PATCH_MAIL)
    docs = list(read_corpus(str(tmp_path)))
    passages = _passages(docs, max_tokens=40, min_tokens=5)
    assert len(passages) == 1 and passages[0].meta["oversized"] == "patch"
    kept, rejects = _filtered(passages)
    assert kept == [] and rejects[0].meta["reject_reason"].startswith("standalone: patch longer than max_tokens")


def test_patches_drop_drops_a_patch_mail_with_its_reason(tmp_path):
    (tmp_path / "p.eml").write_text(PATCH_MAIL)
    kept, rejects = _filtered(_passages(list(read_corpus(str(tmp_path)))), patch={"patches": "drop"})
    assert kept == [] and rejects[0].meta["reject_reason"] == "patch: patch mail (--patches drop)"


def test_a_hunk_without_its_description_is_dropped_as_a_diff_hunk():
    hunk = Record(
        output="@@ -120,6 +120,10 @@ static int parse_section(struct parser *p)\n"
        "+\tif (len == 0) {\n+\t\treturn -1;\n+\t}\n \treturn add_section(p, name, len);"
    )
    assert Patch().filter(hunk) == (False, "diff hunk without its description")


def test_quotes_and_every_attribution_form_go_from_a_reply(tmp_path):
    counts = {}
    body = REPLY_MAIL.split("\n\n", 1)[1]
    cleaned = clean_body(body, counts)
    assert cleaned == (
        "Looks right to me. Could you add a test case with \"[]\" to tests/sections.txt\n"
        "so the crash cannot come back?\n\nAlso, the error message should name the line number."
    )
    assert counts == {"attribution": 2, "quoted_lines": 2, "trailers": 1}


def test_a_reply_is_paired_with_its_message_and_an_orphan_reply_is_dropped(tmp_path):
    docs = _docs(tmp_path, {"a.eml": PATCH_MAIL, "b.eml": REPLY_MAIL, "c.eml": ORPHAN_MAIL})
    threads = ThreadStats()
    records = list(thread_records(docs, threads))
    assert threads.replies == 1 and threads.missing_parent == 1
    reply = next(r for r in records if r.meta.get("email_mode") == "thread")
    assert reply.input.startswith("Subject: [PATCH v2] parser") and reply.output.startswith("Looks right")
    kept, rejects = _filtered(_passages(records, max_tokens=400))
    assert [r.meta["reject_reason"] for r in rejects] == ["standalone: reply whose message is not in the corpus"]
    assert len(kept) == 2


def test_machine_mail_is_skipped_with_its_reason(tmp_path):
    stats = ReadStats()
    assert _docs(tmp_path, {"bounce.eml": BOUNCE_MAIL}, stats=stats) == []
    assert stats.skipped == Counter({AUTO_MAIL: 1})


# --- docs ------------------------------------------------------------------------------------


def test_markdown_loses_front_matter_html_directives_image_and_link_lines_but_not_code():
    counts = Counter()
    cleaned = clean_markdown(MARKDOWN_PAGE, counts)
    assert cleaned.startswith("# Caching results\n\nThe cache keeps the results of each query")
    for gone in (
        "layout:",
        "<aside",
        "<img",
        "{% include",
        "{{#include",
        "{{<",
        "![Cache",
        "[Edit this page]",
        "<strong>",
        "{#caching}",
    ):
        assert gone not in cleaned
    assert "```toml\n[cache]\nttl = 300\n\n# the largest number of entries\nsize = 10000\n```" in cleaned
    assert counts["front_matter"] == 1 and counts["template_directives"] == 3 and counts["image_lines"] == 1
    assert counts["link_lines"] == 1 and counts["html_tags"] >= 4
    assert title(MARKDOWN_PAGE) == "Caching results"
    assert not junk.markup(cleaned)


MKDOCS_PAGE = """# Setting up navigation

Material provides [tabs] and [sections], and [instant loading][instant].

  [tabs]: #navigation-tabs
  [sections]: #navigation-sections
  [instant]: #instant-loading

!!! info "The [`site_url`][mkdocs.site_url] setting must be set"

    Note that you must set `site_url` when using instant navigation. Example:

    ``` yaml
    site_url: https://example.com
    ```

=== "Unordered list"

    Lists keep their [order] as written.

=== "Screenshot"

    [![Navigation tabs enabled]][Navigation tabs enabled]

#### <!-- md:setting config.enabled -->

Use this setting to enable the plugin.

[![Navigation tabs enabled]][Navigation tabs enabled]

``` markdown
!!! note "An example stays an example"

    Lorem ipsum.
```
"""

MDX_PAGE = """---
title: Getting Started
---

import { Tabs, TabItem } from '@astrojs/starlight/components';
import {
  Steps,
  FileTree,
} from '@astrojs/starlight/components';

Starlight is a documentation theme. An Option<String> in prose is a type, not a component.

<Tabs syncKey="pkg">
<TabItem label="npm">

```sh
npm create astro@latest -- --template starlight
```

</TabItem>
</Tabs>

:::tip[See it in action]
Try Starlight in your browser.
:::

:::note
Asides without a title lose their fences only.
:::
"""


def test_mkdocs_admonitions_tabs_and_reference_links_read_as_their_page_shows_them():
    counts = Counter()
    cleaned = clean_markdown(MKDOCS_PAGE, counts)
    assert "Material provides tabs and sections, and instant loading." in cleaned
    # The admonition's title is a line of its own; its text and code are no longer indented.
    assert "**The `site_url` setting must be set**\n\nNote that you must set `site_url`" in cleaned
    assert "\n``` yaml\nsite_url: https://example.com\n```" in cleaned
    assert "**Unordered list**\n\nLists keep their [order] as written." in cleaned  # [order] has no definition
    assert "[![Navigation" not in cleaned and "[tabs]:" not in cleaned
    assert "Screenshot" not in cleaned  # a tab of an image only shows nothing here
    # Inside a code block the syntax is the example the page shows.
    assert '``` markdown\n!!! note "An example stays an example"\n\n    Lorem ipsum.\n```' in cleaned
    assert counts["admonitions"] == 3 and counts["reference_links"] == 4 and counts["image_lines"] == 2
    # A heading that was all markup goes; the text under it stays.
    assert "####" not in cleaned and "\n\nUse this setting to enable the plugin." in cleaned
    assert counts["empty_headings"] == 1


def test_an_mdx_page_loses_its_imports_components_and_aside_fences(tmp_path):
    counts = Counter()
    cleaned = clean_markdown(MDX_PAGE, counts)
    assert cleaned.startswith("Starlight is a documentation theme. An Option<String> in prose is a type")
    for gone in ("import", "<Tabs", "</TabItem>", ":::"):
        assert gone not in cleaned
    assert "```sh\nnpm create astro@latest -- --template starlight\n```" in cleaned
    assert "**See it in action**\n\nTry Starlight in your browser." in cleaned
    assert "\n\nAsides without a title lose their fences only." in cleaned
    assert counts["mdx_imports"] == 2 and counts["mdx_components"] == 4 and counts["admonitions"] == 2
    # An .mdx file is read as Markdown, its title from its front matter.
    (page,) = _docs(tmp_path, {"getting-started.mdx": MDX_PAGE})
    assert page.meta["format"] == "md" and page.meta["title"] == "Getting Started"
    assert page.output == cleaned


def test_reference_links_show_their_words_and_liquid_output_in_prose_is_markup():
    counts = Counter()
    page = (
        "Check your links with [HTML Proofer][5], as most sites do; see `[a][1]` for the syntax.\n"
        "[5]: https://github.com/gjtorikian/html-proofer\n"
    )
    cleaned = clean_markdown(page, counts)
    assert cleaned == "Check your links with HTML Proofer, as most sites do; see `[a][1]` for the syntax.\n"
    assert counts["reference_links"] == 1 and counts["link_lines"] == 1
    assert junk.markup("You need Ruby {{ site.data.ruby.min_version }} or higher installed first.")
    assert junk.markup("Send us your review. [/button]")
    assert not junk.markup("Liquid prints a value: `{{ page.title }}`, and\n```\n{{ site.url }}\n```")


def test_markdown_passages_carry_their_heading_path_and_never_cut_a_code_block(tmp_path):
    docs = _docs(tmp_path, {"caching.md": MARKDOWN_PAGE})
    assert docs[0].meta["title"] == "Caching results"
    passages = _passages(docs, max_tokens=30, min_tokens=3)
    config = next(p for p in passages if p.output.startswith("## Configuration"))
    assert config.meta["headings"] == ["Caching results", "Configuration"]
    code = next(p for p in passages if "```toml" in p.output)
    assert code.output.count("```") == 2  # whole, blank line inside and all
    assert all(not junk.open_fence(p.output) for p in passages)
    # Cut into passages, no piece is the whole page; uncut, the one passage is (--prime asks for it).
    assert not any(p.meta.get("whole_page") for p in passages)
    (whole,) = _passages(docs, max_tokens=2000, min_tokens=3)
    assert whole.meta["whole_page"] is True


def test_a_code_block_longer_than_max_tokens_is_dropped_whole(tmp_path):
    code = "\n\n".join("totals = compute_totals(orders, discount)" for _ in range(30))
    long_code = "# Setup\n\nRun this script.\n\n```python\n" + code + "\n```\n"
    passages = _passages(_docs(tmp_path, {"setup.md": long_code}), max_tokens=40, min_tokens=3)
    code = next(p for p in passages if "```python" in p.output)
    assert code.output.rstrip().endswith("```") and code.meta["oversized"] == "code block"
    kept, rejects = _filtered([code])
    assert rejects[0].meta["reject_reason"] == (
        "standalone: code block longer than max_tokens (kept whole or not at all)"
    )


# --- web and cuts ----------------------------------------------------------------------------


def test_a_page_whose_naive_cut_starts_mid_sentence_is_cut_at_lines_or_dropped(tmp_path):
    # Extracted web text: one paragraph per line, no blank lines. Cuts now fall between lines.
    lines = [f"Paragraph {i} tells the reader about the harbour and its {i} old boats." for i in range(12)]
    passages = _passages([Record(output="\n".join(lines), meta={"format": "html"})], max_tokens=40, min_tokens=3)
    assert len(passages) > 1 and all(p.output.startswith("Paragraph") for p in passages)
    # One endless sentence must be cut by tokens: every piece after the first starts inside it.
    # (Pieces of 60 tokens: a web passage needs 40 words of running text, or it is a caption.)
    run_on = " ".join(["the boats went out and came back"] * 80)
    pieces = _passages([Record(output="Then " + run_on + ".", meta={"format": "html"})], max_tokens=60, min_tokens=3)
    kept, rejects = _filtered(pieces)
    assert len(kept) == 1 and kept[0].output.startswith("Then")
    assert all(
        r.meta["reject_reason"].startswith("standalone: starts inside a sentence")
        or r.meta["rejected_by"] == "passage_length"
        for r in rejects
    )  # a short last piece
    assert sum(r.meta["rejected_by"] == "standalone" for r in rejects) >= 5


@pytest.mark.parametrize(
    "text,checks",
    [
        ("and then the server restarts, which clears the cache for everyone.", ["mid_sentence"]),
        ("}\n\nreturn result;", ["mid_sentence"]),
        ("```python\nprint('never closed')\n", ["open_fence"]),
        ("Read <a href='x'>the guide</a> and <b>then</b> run it.", ["markup"]),
        ("{% include footer.html %}\nThanks for reading the guide to the end.", ["markup"]),
        ("@@ -1,3 +1,4 @@\n-old line\n+new line\n context", ["diff_hunk"]),
        ("Use `pip install tool` to install it, then run `tool --help`.", []),
        ("Hi <PERSON_1>, the <EMAIL_2> inbox is full again, and so is mine.", []),
        ("npm install runs the build and the tests of every package.", []),
        (" Makefile | 3 ++-\n README | 2 +-\n 2 files changed, 3 insertions(+), 2 deletions(-)", ["tool_output"]),
        (
            "^1a2b3c4d (Jane Doe 2024-01-02 10:11:12 +0100 41) int a;\n"
            "5e6f7a8b (Jane Doe 2024-01-02 10:11:12 +0100 42) int b;\n"
            "5e6f7a8b (Jane Doe 2024-01-02 10:11:12 +0100 43) int c;",
            ["tool_output"],
        ),
        ("It prints:\n\n```console\n```\n\nThat is all.", ["empty_code"]),
        ("## Deployment\n\nThere are two manual ways to upload a site:", ["ends_open"]),
        ("Your work means the world to our users. :heart:", []),
    ],
)
def test_junk_checks_name_what_is_wrong(text, checks):
    assert junk.junk(text) == checks


def test_a_passage_that_ends_on_a_colon_is_dropped_for_what_it_lacks():
    cut = Record(output="## Deployment\n\nJekyll builds a static site. There are two manual ways:\n")
    verdict = Standalone().filter(cut)
    assert verdict[0] is False and verdict[1].startswith("ends on a colon, without what it introduces")
    whole = Record(output=cut.output + "\n1. Copy `_site` to your server.\n2. Push it to a static host.")
    assert Standalone().filter(whole) is True


def test_a_teaser_that_ends_on_an_ellipsis_is_dropped_but_not_a_mail():
    teaser = "It was the shot heard round the world. He may receive further discipline...."
    verdict = Standalone().filter(Record(output=teaser, meta={"format": "html"}))
    assert verdict[0] is False and verdict[1].startswith("ends on an ellipsis")
    assert Standalone().filter(Record(output=teaser.replace("....", "…"), meta={"format": "md"}))[0] is False
    assert Standalone().filter(Record(output="Fixed the probe, the leak, etc...", meta={"format": "eml"})) is True


def test_a_docs_intro_that_only_announces_what_follows_is_dropped():
    intro = (
        "## Closures\n\nRust's closures are anonymous functions you can save in a variable. We'll "
        "demonstrate how these closure features allow for code reuse."
    )
    verdict = Standalone().filter(Record(output=intro, meta={"format": "md"}))
    assert verdict[0] is False and verdict[1].startswith("a short intro that announces what follows")
    # A section that holds its content keeps its closing "Next, we'll ...".
    full = intro + " " + " ".join(["A closure captures values from the scope in which it is defined."] * 8)
    assert Standalone().filter(Record(output=full, meta={"format": "md"})) is True
    # Mail and web text are not Markdown sections.
    assert Standalone().filter(Record(output=intro.replace("## Closures\n\n", ""), meta={"format": "eml"})) is True


def test_standalone_keeps_an_ordinary_passage():
    assert Standalone().filter(Record(output="Set the lifetime in the cache table.")) is True


def test_a_message_that_opens_in_lowercase_is_its_own_beginning():
    reply = Record(
        output="thanks! I think the second version is better, it keeps the lock shorter.",
        meta={"format": "mbox", "start": 0},
    )
    cut = Record(
        output="thanks! I think the second version is better, it keeps the lock shorter.",
        meta={"format": "html", "start": 120},
    )
    assert Standalone().filter(reply) is True and Standalone().filter(cut)[0] is False


BOOK_PAGE = """\
## Threads

The program in Listing 16-1 starts a thread:

```rust
{{#rustdoc_include ../listings/ch16/listing-16-01/src/main.rs:here}}
```

It prints:

```console
{{#include ../listings/ch16/listing-16-01/output.txt:2:3}}
```

The order of the lines changes from run to run.
"""
LISTING = """\
use std::thread;

// ANCHOR: here
fn main() {
    thread::spawn(|| println!("hi from the thread"));
    println!("hi from main");
}
// ANCHOR_END: here
"""


def test_mdbook_includes_are_read_from_the_files_they_name(tmp_path):
    listing = tmp_path / "listings" / "ch16" / "listing-16-01"
    (listing / "src").mkdir(parents=True)
    (listing / "src" / "main.rs").write_text(LISTING)
    (listing / "output.txt").write_text("$ cargo run\nhi from main\nhi from the thread\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "ch16.md").write_text(BOOK_PAGE)
    stats = ReadStats()
    [doc] = list(read_corpus(str(tmp_path / "src"), stats=stats))
    assert "```rust\nfn main() {\n    thread::spawn" in doc.output and "use std::thread" not in doc.output
    assert "ANCHOR" not in doc.output
    assert "```console\nhi from main\nhi from the thread\n```" in doc.output  # lines 2 to 3
    assert stats.cleaned["resolved_includes"] == 2 and not stats.cleaned["missing_includes"]
    kept, _ = _filtered(_passages([doc]))
    assert len(kept) == 1


def test_a_listing_the_corpus_lacks_drops_the_text_that_points_at_it(tmp_path):
    # Without the listings folder the page would say "It prints:" over nothing.
    counts = Counter()
    cleaned = clean_markdown(BOOK_PAGE, counts, base=tmp_path)
    assert "```rust\n```" in cleaned and "{{#" not in cleaned
    assert counts["missing_includes"] == 2 and junk.empty_code(cleaned)
    passage = Record(output=cleaned, meta={"format": "md"})
    kept, rejects = _filtered([passage])
    assert kept == [] and rejects[0].meta["reject_reason"] == (
        "standalone: an empty code block: a listing pulled in at build time that the corpus lacks"
    )


ROBOT_MAIL = """\
From: kernel test robot <lkp@intel.com>
To: Ines Moreau <ines@example.org>
Subject: Re: [PATCH v2] parser: reject empty section names
Message-ID: <robot-1@intel.com>
Date: Wed, 3 Mar 2021 04:05:06 +0800

Hi Ines,

kernel test robot noticed the following build warnings:

All warnings (new ones prefixed by >>):

   src/parser.c:124:9: warning: unused variable 'len' [-Wunused-variable]
   src/parser.c:130:1: error: expected ';' before '}' token
"""

COVER_LETTER = """\
From: Ines Moreau <ines@example.org>
To: dev@lists.example.org
Subject: [PATCH 0/2] parser: stricter section names
Message-ID: <cover-1@example.org>
Date: Tue, 2 Mar 2021 10:11:12 +0100

Section names were never checked. This series rejects empty names and
names with control characters, with an error that says which line.

Ines Moreau (2):
  parser: reject empty section names
  parser: reject control characters in section names

 src/parser.c      | 14 ++++++++++++++
 tests/parser.t    |  9 +++++++++
 2 files changed, 23 insertions(+)

--
2.30.1
"""


def test_a_bots_report_is_machine_mail_and_a_cover_letter_loses_its_shortlog_and_diffstat(tmp_path):
    stats = ReadStats()
    docs = _docs(tmp_path, {"robot.eml": ROBOT_MAIL, "cover.eml": COVER_LETTER}, stats=stats)
    assert stats.skipped == Counter({AUTO_MAIL: 1})
    [cover] = docs
    assert cover.output.endswith("with an error that says which line.")
    assert stats.cleaned["shortlog"] == 3 and stats.cleaned["diffstat"] == 3


def test_program_output_is_dropped_as_tool_output():
    trace = (
        "Hi,\n\n   src/parser.c:124:9: warning: unused variable 'len'\n"
        "   src/parser.c:130:1: error: expected ';' before '}' token\n"
        "   src/parser.c:131:1: note: in expansion of macro\n"
    )
    kept, rejects = _filtered(
        [Record(output=trace + "\nThanks for looking at it, I will send a fix soon.", meta={"format": "mbox"})],
        passage_length=None,
    )
    assert kept == [] and rejects[0].meta["reject_reason"].startswith("tool_output: mostly program output")
    assert not junk.tool_output("Run `make` and then read src/parser.c:124 for the check.\nIt is short.")


def test_a_later_piece_that_opens_no_section_is_dropped_as_a_continuation(tmp_path):
    body = "\n\n".join(f"Paragraph {i} explains one more step of the setup in some detail here." for i in range(8))
    upgrade = "Upgrading keeps your settings, moves the data folder for you and tells you which options changed name."
    page = f"# Setup\n\n{body}\n\n## Upgrading\n\n{upgrade} {upgrade} {upgrade}"
    passages = _passages(_docs(tmp_path, {"setup.md": page}), max_tokens=60, min_tokens=3)
    kept, rejects = _filtered(passages)
    # The whole "Upgrading" section stays; "Setup" was cut into pieces: its later pieces go as
    # continuations, its first because its section goes on without it.
    assert [p.output.split("\n")[0] for p in kept] == ["## Upgrading"]
    reasons = Counter(r.meta["reject_reason"] for r in rejects if r.meta["rejected_by"] == "standalone")
    assert reasons["standalone: continues the passage before it (no heading opens it)"] >= 1
    assert reasons["standalone: its section goes on in the next passage (cut short)"] == 1
    first = next(p for p in passages if p.output.startswith("# Setup"))
    assert first.meta["continued"] and not kept[0].meta.get("continued")
    assert Standalone(partial_sections=True).filter(first) is True


def test_a_web_page_is_cut_before_its_subheadings_not_after_them(tmp_path):
    # Extracted web text: paragraphs and subheadings one per line. The naive cut left "Module
    # efficiency" at the end of the first passage, a heading with nothing under it.
    para = "The ministry wants module costs to fall from {} cents a watt to ten cents by the end of the decade."
    lines = [para.format(20 + i) for i in range(4)] + ["Module efficiency"] + [para.format(40 + i) for i in range(4)]
    page = Record(output="\n".join(lines), meta={"format": "html"})
    passages = _passages([page], max_tokens=120, min_tokens=3)
    assert len(passages) == 2
    assert passages[0].output.endswith(lines[3]) and passages[1].output.startswith("Module efficiency")
    assert passages[0].meta["continued"] and "continued" not in passages[1].meta
    # Not a subheading: a sentence, a list item, a line with a clause's comma.
    for line in ("The plan was announced on Monday.", "- Quick access to Siri", "Costs, prices and more"):
        lines_ = lines[:4] + [line] + lines[5:]
        cut = _passages([Record(output="\n".join(lines_), meta={"format": "html"})], max_tokens=120, min_tokens=3)
        assert not cut[1].output.startswith(line)


def test_a_docs_pages_intro_and_its_stub_sections_are_dropped_but_not_a_page_without_headings(tmp_path):
    intro = " ".join(["Layouts are templates that wrap around your content and keep it in one place."] * 3)
    full = " ".join(["A layout names its parent in front matter, and the content goes where it says so."] * 4)
    stub = (
        "The [variables](/docs/variables/) page lists what a layout can read, such as the page title, "
        "the site's time and the content, with one short example for each of them."
    )
    page = f"{intro}\n\n## Inheritance\n\n{full}\n\n## Variables\n\n{stub}"
    passages = _passages(_docs(tmp_path, {"layouts.md": page}), max_tokens=90, min_tokens=3)
    assert [p.output.split("\n")[0] for p in passages][1:] == ["## Inheritance", "## Variables"]
    assert passages[0].meta["intro"] and not any(p.meta.get("intro") for p in passages[1:])
    kept, rejects = _filtered(passages)
    assert [p.output.split("\n")[0] for p in kept] == ["## Inheritance"]
    reasons = sorted(r.meta["reject_reason"] for r in rejects)
    assert reasons == [
        f"standalone: a stub section: {len(stub.split())} words under its heading (< 40)",
        "standalone: the page's intro, above its first heading (its sections are passages of their own)",
    ]
    assert all(Standalone(partial_sections=True).filter(r) is True for r in rejects)
    # A page with no heading has no intro: its passages are what it holds.
    (tmp_path / "plain").mkdir(), (tmp_path / "whole").mkdir()
    plain = _passages(_docs(tmp_path / "plain", {"notes.md": f"{intro}\n\n{full}"}), max_tokens=60, min_tokens=3)
    assert len(plain) > 1 and not any(p.meta.get("intro") for p in plain)
    # A short page kept whole, intro and sections together, is not an intro either.
    (whole,) = _passages(_docs(tmp_path / "whole", {"layouts.md": page}), max_tokens=400, min_tokens=3)
    assert "intro" not in whole.meta and Standalone().filter(whole) is True


def test_a_pages_related_stories_embedded_tweets_and_calls_to_action_are_cleaned():
    from backtranslate.readers.web_text import clean_web

    story = "The band will kick off the tour on June 9 in West Palm Beach, with 30 cities to follow."
    text = "\n".join(
        [
            "Music",  # a section label over the headline
            "October 22, 2019 report",  # a dateline
            "Doobie Brothers to reunite with Michael McDonald for Blossom show",
            story,
            "READ MORE: Who will make the Rock Hall in 2020?",
            "[Related: Santana plays Blossom Music Center]",
            "Also on rt.com Fans queue overnight for tickets",
            "Saturday night's captures are 30fps, while the browser aims for 60. pic.twitter.com/Ab12Cd",
            "— Dave Schukin (@schukin) July 3, 2019",
            "Click here to subscribe to our newsletter",
            "(Credit: Clayton Aldern / Grist)",
            "https://www.example.com/news/doobie-brothers-tour",
            "#RockHall",
            "Tickets go on sale Friday at 10 a.m.",
            "Comments",
            "You may also like...",
            "Doobie Brothers perform with Santana at Blossom Music Center in 2019",
            "Dave Matthews Band takes over Rock Hall Fan Vote",
        ]
    )
    counts = Counter()
    cleaned = clean_web(text, counts)
    assert cleaned == "\n".join([text.split("\n")[2], story, "Tickets go on sale Friday at 10 a.m."])
    assert counts == Counter(
        related_links=6,
        tweet_embeds=2,
        calls_to_action=1,
        credits_and_links=3,
        page_furniture=1,
        datelines_and_labels=2,
    )
    # The same words in the story's own sentences stay: "subscribe" that ends like a sentence, a
    # "Related" or "More" that says more, a short first line over a short line.
    kept = (
        "Subscribe to the feed for updates.\nRelated research was published in May by the same team.\n"
        "More than 100 people died.\nAlso, the team said it would return.\nWatch the video below."
    )
    assert clean_web(kept) == kept
    assert clean_web("Overview\nIt rained.") == "Overview\nIt rained."


def test_a_pages_credits_disclosures_widgets_and_promoted_headlines_are_cleaned():
    from backtranslate.readers.web_text import clean_web

    para = "Dow component Home Depot reported earnings that topped estimates as revenue fell short."
    text = "\n".join(
        [
            "5:45 AM PST 11/19/2019 by Patrick Shanley",
            "This article originally appeared on VICE US.",
            "Courtesy of Forests News",
            "Written by: Julie Mollins",
            "This shop has been compensated by #CollectiveBias, Inc. and its advertiser. #ad",
            para,
            "| Ticker | Security | Last | Change |",
            "|---|---|---|---|",
            "| HD | THE HOME DEPOT INC. | 225.86 | -12.99 |",
            "CO-FOUNDER 'PROUD' OF HOME DEPOT EMPLOYEES LIVING OUT THEIR AMERICAN DREAM",
            "Download:\xa0http://po.st/TP_615",
            para,
        ]
    )
    counts = Counter()
    assert clean_web(text, counts) == f"{para}\n{para}"
    assert counts == Counter(datelines_and_labels=1, credits_and_links=4, widgets=3, related_links=1, calls_to_action=1)
    # A table of the story's own, a script without capitals, a heading in capitals stay.
    table = "| Player | Plays |\n|---|---|\n| Smith | 29 |"
    korean = "다만 MBC <숨바꼭질>은 방영을 시작한 지 얼마 되지 않았지만 벌써 지쳐가는 인상이다."
    for kept in (f"{para}\n{table}\n{para}", f"{para}\n{korean}\n{para}", f"{para}\nHOW WILL OBAMA PLAY?\n{para}"):
        assert clean_web(kept) == kept
    # A bare "Related" over the article's own next paragraph goes alone, not with the article.
    assert clean_web(f"{para}\nRelated\n{para}\n{para}") == f"{para}\n{para}\n{para}"


def test_a_page_that_opens_on_other_stories_headlines_loses_them():
    from backtranslate.readers.web_text import clean_web

    others = [
        "Post Malone, Ariana Grande & Billie Eilish Lead 2019 American Music Awards Nominations: See Full List",
        "Jonas Brothers Added to 2019 American Music Awards Performance Lineup",
        "Ciara to Host 2019 American Music Awards, Plus New Performers Announced",
    ]
    story = "A half century on, The Doobie Brothers are still smoking, and they will tour in 2020."
    counts = Counter()
    assert clean_web("\n".join([*others, story]), counts) == story and counts == Counter(related_links=3)
    # A headline and its subheading over the story are not a list, nor is a page that is a list.
    two = "\n".join(others[1:] + [story])
    assert clean_web(two) == two
    calendar = "\n".join(f"Round {i}: the race at Interlagos on {i} March" for i in range(1, 13))
    assert clean_web(calendar) == calendar


def test_a_web_passage_that_ends_on_the_next_parts_subheading_hands_it_over(tmp_path):
    para = "Volker and Morrison testified side by side on {} about the events at the center of the inquiry."
    for heading in (["2. Never urged Ukraine to investigate Joe Biden"], ["___", "HOW WILL OBAMA PLAY?"]):
        lines = [para.format(f"day {i}") for i in range(4)] + heading + [para.format(f"day {i}") for i in range(4, 8)]
        passages = _passages([Record(output="\n".join(lines), meta={"format": "html"})], max_tokens=90, min_tokens=3)
        assert len(passages) == 2
        assert passages[0].output.endswith(lines[3])
        assert passages[1].output.startswith(heading[0])


def test_a_docs_passage_does_not_end_on_an_empty_heading():
    # "## Ways to contribute" alone is under min_tokens and joins the section before it; what it
    # heads is not in the passage, so the heading goes (readers called such endings a fragment).
    body = "If you're looking for support for Jekyll, there are a lot of options to choose from here."
    page = Record(output=f"## Where to get support\n\n{body}\n\n## Ways to contribute", meta={"format": "md"})
    (passage,) = _passages([page], max_tokens=60, min_tokens=5)
    assert passage.output == f"## Where to get support\n\n{body}"
    # A parent heading joined to the section before it stays in its subsection's heading path,
    # not in its text: that passage opens on its own heading alone.
    page = Record(output=f"## Support\n\n{body}\n\n## Bug?\n\n### Reproducibility\n\n{body}", meta={"format": "md"})
    first, second = _passages([page], max_tokens=30, min_tokens=5)
    assert first.output == f"## Support\n\n{body}"
    assert second.output.startswith("### Reproducibility") and second.meta["headings"] == ["Bug?", "Reproducibility"]


def test_a_web_passage_with_little_running_text_is_dropped():
    caption = (
        "Taiwanese President Tsai Ing-wen speaks during a televised policy debate in Taipei on December 29 "
        "in the run-up to the presidential election. Photo: AP"
    )
    stub = (
        "Does Marie Yovanovitch Have a Net Worth of $17 Million?\n"
        "An unsubstantiated rumor was circulated in November 2019 in an apparent attempt to discredit her.\n"
        "- Published 18 November 2019\nClaim\nFormer U.S. ambassador Marie Yovanovitch has a net worth of $17 million."
    )
    article = (
        stub + "\n" + " ".join(["The rumor spread on social media, and the claim has no basis in any filing."] * 3)
    )
    for text, words in ((caption, 0), (stub, 27)):
        verdict = Standalone().filter(Record(output=text, meta={"format": "html"}))
        assert verdict == (False, f"little running text ({words} words in sentences)")
    assert Standalone().filter(Record(output=article, meta={"format": "html"})) is True
    # A first line that is a paragraph, not a title, is running text too.
    paragraph = " ".join(["The rumor spread on social media, and the claim has no basis in any filing."] * 3)
    assert Standalone().filter(Record(output=f"{paragraph}\nClaim", meta={"format": "html"})) is True
    # Mail and docs have their own rules: a short note is a whole message.
    assert Standalone().filter(Record(output=caption, meta={"format": "eml"})) is True
