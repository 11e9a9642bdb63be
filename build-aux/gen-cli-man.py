#!/usr/bin/python3
"""build-aux/gen-cli-man.py - write lienwatch(1) from the CLI's own help.

  build-aux/gen-cli-man.py [LIENWATCH [PAGE]]          rewrite PAGE
  build-aux/gen-cli-man.py --check [LIENWATCH [PAGE]]  exit 1 (with a diff)
                                                       when PAGE is stale

LIENWATCH defaults to build/bin/lienwatch, PAGE to docs/man/lienwatch.1.
The manual has one source, the help texts of the program: "lienwatch --help"
(cli/main.c) gives the page's sections, and its COMMANDS list (the command
table) names the commands, each of which gets a subsection made from
"lienwatch help COMMAND" (the help text in cli/cmd_*.c). A new command or
option is documented by writing its --help; `make man` regenerates the page,
and tests/integration/test_manual.sh fails while the committed page
differs from what this script writes. The page is committed, so installing
it needs no build.

The help texts follow one layout, which is all this script relies on:
a section title at column 0 (NAME, SYNOPSIS, DESCRIPTION, OPTIONS, ...),
its text indented by 4; in it, blank lines between paragraphs; a term (an
option, a subcommand, a file) on a line of its own with its description
indented 4 more; a list of "word   text" lines (two or more blanks between
term and text, continuation lines indented under the text); a block
indented 4 more than the paragraph before it; "- text" bullets; in
SYNOPSIS one usage per line
(deeper lines continue it); in EXAMPLES command lines, kept as they are.
Options (-x, --xxx) are set in bold, the metavariables of the command's
synopsis (DEVICE, TEXT) in italics, "name(N)" references in bold.
"""
import difflib
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INDENT = 4

# Sections whose text is kept line for line
VERBATIM = {"EXAMPLES"}
# Terms of these sections are set in this font whatever they look like
TERM_FONT = {"ENVIRONMENT": "B", "FILES": "I"}
# A line of a "term   text" list: the term, two or more blanks, the text
TWO_COLUMNS = re.compile(r"^(\S(?:.*?\S)?) {2,}(\S.*)$")
# A line of a bulleted list starts with one of these; the lines under it
# are indented to its text
BULLETS = ("- ", "* ")
# Widest indent of a "term   text" list; longer terms go on a line of their
# own
ITEM_WIDTH_MAX = 16
OPTION = re.compile(r"(?<![\w\\-])(--?[A-Za-z][\w-]*)")
MAN_REF = re.compile(r"(?<![\w-])([a-z][\w.-]*)\(([1-8])\)")
METAVAR = re.compile(r"\b[A-Z][A-Z0-9_]*\b")


class HelpError(Exception):
    """The help text does not follow the layout described above."""


# ---- roff text

def escape(s):
    """Plain text as roff input text (no fonts yet)."""
    s = s.replace("\\", "\\e")
    s = s.replace("-", "\\-")
    s = s.replace("'", "\\(aq")
    return s


def line_safe(s):
    """A roff text line must not start with a control character."""
    return "\\&" + s if s.startswith((".", "'")) else s


# The end of a sentence in escaped text: a new line there, as man-pages(7)
# asks (and groff then spaces sentences the same everywhere)
SENTENCE_END = re.compile(r"(?<=[a-z0-9)\]][.?!]) +(?=[A-Z\\])")


def text_lines(s):
    """Escaped prose as roff text lines, one sentence per line."""
    return [line_safe(x) for x in SENTENCE_END.split(s)]


class Marker:
    """Inline fonts for one command's text: options bold, its synopsis'
    metavariables italic, man page references bold."""

    def __init__(self, metavars):
        self.metavars = sorted(metavars, key=len, reverse=True)
        words = "|".join(re.escape(m) for m in self.metavars)
        self.meta_re = re.compile(r"(?<![\w.-])(%s)(?![\w-])" % words) \
            if words else None

    def prose(self, text):
        """Escaped text with fonts."""
        # mark on the raw text with placeholders, then escape, then fonts
        marks = []

        def keep(font):
            def sub(m):
                marks.append((font, m.group(1)))
                return "\0%d\0" % (len(marks) - 1)
            return sub
        s = MAN_REF.sub(lambda m: keep("B")(m) + "(%s)" % m.group(2), text)
        s = OPTION.sub(keep("B"), s)
        if self.meta_re:
            s = self.meta_re.sub(keep("I"), s)
        s = escape(s)
        return re.sub(r"\0(\d+)\0", lambda m: "\\f%s%s\\fR" % (
            marks[int(m.group(1))][0], escape(marks[int(m.group(1))][1])), s)

    @staticmethod
    def term(text, font=None):
        """A term or a usage: options and literal words bold, words with
        capitals (metavariables) italic, brackets and bars roman; blanks
        inside brackets do not break."""
        out = []
        depth = 0
        for tok in re.findall(r"[\[\]|{}()]|,|\s+|[^\s\[\]|{}(),]+", text):
            if tok in "[{(":
                depth += 1
                out.append(escape(tok))
            elif tok in "]})":
                depth -= 1
                out.append(escape(tok))
            elif tok in "|,":
                out.append(escape(tok))
            elif tok.isspace():
                out.append("\\~" if depth > 0 else " ")
            else:
                f = font or ("I" if re.search(r"[A-Z]", tok) and
                             not tok.startswith("-") else "B")
                out.append("\\f%s%s\\fR" % (f, escape(tok)))
        return "".join(out)


# ---- help text to blocks

def indent_of(line):
    return len(line) - len(line.lstrip(" "))


def sections(text, where):
    """[(TITLE, [lines dedented by INDENT])] of one help text."""
    out = []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            if out:
                out[-1][1].append("")
            continue
        if not line.startswith(" "):
            out.append((line.strip(), []))
            continue
        if not out or indent_of(line) < INDENT:
            raise HelpError("%s: line %d: text outside a section: %r"
                            % (where, n, line))
        out[-1][1].append(line[INDENT:].rstrip())
    for _, lines in out:
        while lines and not lines[-1]:
            lines.pop()
    return out


def is_term(line):
    """A line that names something (an option, a subcommand) rather than
    starting a sentence: no ': ' in it and no trailing colon."""
    return ": " not in line and not line.endswith(":")


def deeper_run(lines, i, base):
    """End index of the lines after i that are deeper than base (blank lines
    inside the run included, trailing ones not)."""
    j = i
    end = i
    while j < len(lines):
        if not lines[j]:
            j += 1
            continue
        if indent_of(lines[j]) <= base:
            break
        j += 1
        end = j
    return end


def dedent(lines):
    ind = min(indent_of(l) for l in lines if l)
    return [l[ind:] for l in lines]


def blocks(lines):
    """Parses text at indent 0 into blocks:
    ("para", text), ("term", term, [blocks]), ("item", term, text),
    ("bullet", text), ("indent", [blocks])."""
    out = []
    i = 0
    para = []

    def end_para():
        if para:
            out.append(("para", " ".join(para)))
            para.clear()
    while i < len(lines):
        line = lines[i]
        if not line:
            end_para()
            i += 1
            continue
        if indent_of(line) > 0:
            # a block deeper than the paragraph before it
            end_para()
            j = deeper_run(lines, i, 0)
            out.append(("indent", blocks(dedent(lines[i:j]))))
            i = j
            continue
        j = deeper_run(lines, i + 1, 0)
        two = TWO_COLUMNS.match(line)
        if line.startswith(BULLETS):
            end_para()
            out.append(("bullet", " ".join(
                [line[2:]] + [l.strip() for l in lines[i + 1:j] if l])))
            i = j
        elif two:
            end_para()
            text = [two.group(2)] + [l.strip() for l in lines[i + 1:j] if l]
            out.append(("item", two.group(1), " ".join(text)))
            i = j
        elif j > i + 1 and not para and is_term(line):
            out.append(("term", line.strip(),
                        blocks(dedent(lines[i + 1:j]))))
            i = j
        elif j > i + 1 and not para:
            # a hanging paragraph: its first line and the deeper ones
            out.append(("para", " ".join(
                [line] + [l.strip() for l in lines[i + 1:j] if l])))
            i = j
        else:
            para.append(line)
            i += 1
    end_para()
    return out


def usages(lines):
    """SYNOPSIS: one usage per line at indent 0, deeper lines continue it."""
    out = []
    for line in lines:
        if not line:
            continue
        if indent_of(line) == 0 or not out:
            out.append(line.strip())
        else:
            out[-1] += " " + line.strip()
    return out


# ---- blocks to roff

def render(bl, mk, term_font=None, in_term=False):
    """The roff lines of blocks bl. in_term: bl is the description of a
    term (.TP): its first paragraph follows the term, later ones are .IP
    (which keeps the term's indent), and nested lists and blocks go inside
    .RS/.RE so that they are indented under it."""
    out = []
    nested = []

    def flush():
        if nested:
            out.extend([".RS"] + nested + [".RE"])
            nested.clear()
    for k, b in enumerate(bl):
        kind = b[0]
        if kind == "para":
            flush()
            if not in_term:
                out.append(".PP")
            elif k > 0:
                out.append(".IP")
            out += text_lines(mk.prose(b[1]))
            continue
        dest = nested if in_term else out
        if kind == "term":
            dest += [".TP", line_safe(mk.term(b[1], term_font))]
            dest += render(b[2], mk, in_term=True)
        elif kind == "item":
            # a list's terms get the width of its longest one
            first = k == 0 or bl[k - 1][0] != "item"
            if first:
                run = [x[1] for x in bl[k:]]
                end = next((n for n, x in enumerate(bl[k:]) if x[0] != "item"),
                           len(run))
                width = min(max(len(t) for t in run[:end]) + 2, ITEM_WIDTH_MAX)
            dest += [".TP %dn" % width if first else ".TP",
                     line_safe(mk.term(b[1], term_font))]
            dest += text_lines(mk.prose(b[2]))
        elif kind == "bullet":
            dest += [".IP \\(bu 2"] + text_lines(mk.prose(b[1]))
        elif kind == "indent":
            dest += [".RS"] + render(b[1], mk, term_font) + [".RE"]
    flush()
    return out


def synopsis(usage_list, mk):
    out = []
    for u in usage_list:
        prog, _, rest = u.partition(" ")
        out.append(".SY " + escape(prog))
        if rest:
            out.append(line_safe(mk.term(rest)))
        out.append(".YS")
    return out


def example_lines(lines):
    """Command lines as they are, indented."""
    out = [".PP", ".RS 4", ".EX"]
    out += [line_safe(escape(l)) for l in lines]
    return out + [".EE", ".RE"]


def metavars_of(usage_list):
    found = set()
    for u in usage_list:
        for tok in re.findall(r"[^\s\[\]|{}(),]+", u):
            if tok.startswith("-"):
                continue
            found.update(METAVAR.findall(tok))
    return found


def section_body(title, lines, mk):
    if title in VERBATIM:
        return example_lines(lines)
    return render(blocks(lines), mk, TERM_FONT.get(title))


def name_line(lines, where):
    text = " ".join(l.strip() for l in lines if l)
    name, sep, what = text.partition(" - ")
    if not sep:
        raise HelpError("%s: NAME is not 'name - what it does': %r"
                        % (where, text))
    return name, what


# ---- the page

def run(prog, *args):
    r = subprocess.run([prog] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise HelpError("'%s %s' failed (exit %d): %s" % (
            prog, " ".join(args), r.returncode, r.stderr.strip()))
    return r.stdout


def command_section(prog, name, summary):
    """The subsection of COMMANDS for one command, from its help."""
    where = "lienwatch help " + name
    secs = sections(run(prog, "help", name), where)
    titles = [t for t, _ in secs]
    if titles[:2] != ["NAME", "SYNOPSIS"]:
        raise HelpError("%s: starts with %s, not NAME and SYNOPSIS"
                        % (where, titles[:2]))
    _, what = name_line(secs[0][1], where)
    use = usages(secs[1][1])
    mk = Marker(metavars_of(use))
    out = ['.SS "%s \\(em %s"' % (escape(name), escape(what).replace(
        '"', '\\(dq'))]
    out += synopsis(use, mk)
    for title, lines in secs[2:]:
        body = section_body(title, lines, mk)
        if title != "DESCRIPTION":
            # a label; a paragraph starts on the next line, a list below
            out += [".PP", '.B "%s"' % escape(title.capitalize())]
            if body and body[0] == ".PP":
                body[0] = ".br"
        out += body
    return out


def page(prog):
    version = run(prog, "--version").strip()
    secs = sections(run(prog, "--help"), "lienwatch --help")
    if not secs or secs[0][0] != "NAME":
        raise HelpError("lienwatch --help: no NAME section first")
    name, what = name_line(secs[0][1], "lienwatch --help")
    use = []
    for title, lines in secs:
        if title == "SYNOPSIS":
            use = usages(lines)
    mk = Marker(metavars_of(use))
    out = [
        '.\\" lienwatch(1): generated by build-aux/gen-cli-man.py from',
        '.\\" "lienwatch --help" and "lienwatch help COMMAND" (cli/main.c,',
        '.\\" cli/cmd_*.c). Do not edit: change the help texts, then run',
        '.\\" "make man".',
        '.\\" No hyphenation: the text is full of identifiers, keys and paths.',
        ".nr HY 0",
        '.TH %s 1 "" "%s" "User Commands"' % (escape(name.upper()),
                                               escape(version)),
        ".SH NAME",
        "%s \\- %s" % (escape(name), escape(what)),
    ]
    commands = 0
    for title, lines in secs[1:]:
        out.append('.SH "%s"' % escape(title))
        if title == "SYNOPSIS":
            out += synopsis(use, mk)
        elif title == "COMMANDS":
            bl = blocks(lines)
            items = [b for b in bl if b[0] == "item"]
            if not items:
                raise HelpError("lienwatch --help: COMMANDS lists nothing")
            out += render([b for b in bl if b[0] != "item"], mk)
            for _, term, text in items:
                word = term.split()[0]
                if word == "help":
                    # not in the command table: its usage is the term
                    out += ['.SS "help \\(em %s"' % escape(text)]
                    out += synopsis([name + " " + term], mk)
                    continue
                out += command_section(prog, word, text)
                commands += 1
        else:
            out += section_body(title, lines, mk)
    if commands == 0:
        raise HelpError("lienwatch --help: no command in COMMANDS")
    return "\n".join(out) + "\n"


def main(argv):
    args = argv[1:]
    check = bool(args) and args[0] == "--check"
    if check:
        args = args[1:]
    if len(args) > 2 or any(a.startswith("-") for a in args):
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    prog = args[0] if args else os.path.join(ROOT, "build/bin/lienwatch")
    path = args[1] if len(args) > 1 else os.path.join(ROOT,
                                                       "docs/man/lienwatch.1")
    if not os.access(prog, os.X_OK):
        sys.stderr.write("gen-cli-man: %s not built\n" % prog)
        return 1
    try:
        text = page(prog)
    except HelpError as e:
        sys.stderr.write("gen-cli-man: %s\n" % e)
        return 1
    if check:
        try:
            with open(path) as f:
                old = f.read()
        except OSError as e:
            old = ""
            sys.stderr.write("gen-cli-man: %s\n" % e)
        if old == text:
            return 0
        sys.stderr.write("gen-cli-man: %s is out of date: run 'make man' "
                         "(build-aux/gen-cli-man.py)\n" % path)
        sys.stderr.writelines(difflib.unified_diff(
            old.splitlines(True), text.splitlines(True), path,
            "generated"))
        return 1
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
