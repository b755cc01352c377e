"""Statement splitting per dialect (trigflow.domain.sql_script): literals, comments, bodies, line numbers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trigflow.domain.sql_script import COMMENT, DIALECTS, lex, split_statements

NAMES = sorted({d.name for d in DIALECTS.values()})  # mariadb is mysql's alias


def texts(script: str, dialect: str) -> list[str]:
    return [s.text for s in split_statements(script, dialect)]


@pytest.mark.parametrize("dialect", NAMES)
def test_semicolons_in_literals_and_comments_do_not_split(dialect: str) -> None:
    script = "select 'a;b', 'it''s;' -- c;d\n, 1 /* x; y */; select 2;"
    assert texts(script, dialect) == ["select 'a;b', 'it''s;' -- c;d\n, 1", "select 2"]


@pytest.mark.parametrize("dialect", NAMES)
def test_empty_statements_and_comment_only_statements_are_dropped(dialect: str) -> None:
    assert texts(";;  -- only a comment\n; /* and this */ ;select 1;;\n", dialect) == ["select 1"]
    assert texts("", dialect) == []
    assert texts("select 1", dialect) == ["select 1"]


def test_line_numbers_and_first_line() -> None:
    script = "-- header\n\nselect 1;\n  select\n  2 ; select 3"
    stmts = split_statements(script, "postgresql")
    assert [(s.line, s.first_line) for s in stmts] == [(3, "select 1"), (4, "select"), (5, "select 3")]
    assert all(script[s.start : s.start + len(s.text)] == s.text for s in stmts)


def test_postgresql_dollar_quotes_nested_comments_and_e_strings() -> None:
    script = (
        "do $$ begin raise notice 'a;b'; end $$;\n"
        "create function f() returns text as $fn$ select 'x;'; $fn$ language sql;\n"
        "select e'\\';', 'plain\\';' ;\n"  # E'...' takes backslash escapes; '...\' ends at the quote
        "/* outer /* inner; */ still comment; */ select $1, a$b$c from t"
    )
    assert texts(script, "postgresql") == [
        "do $$ begin raise notice 'a;b'; end $$",
        "create function f() returns text as $fn$ select 'x;'; $fn$ language sql",
        "select e'\\';', 'plain\\'",
        "' ;\n/* outer /* inner; */ still comment; */ select $1, a$b$c from t",
    ]


def test_postgresql_begin_atomic_body_is_one_statement_and_plain_begin_is_a_transaction() -> None:
    script = (
        "begin; create procedure p() language sql begin atomic insert into t values (1); "
        "select case when true then 1 end; end; commit"
    )
    assert texts(script, "postgresql") == [
        "begin",
        "create procedure p() language sql begin atomic insert into t values (1); "
        "select case when true then 1 end; end",
        "commit",
    ]


def test_mysql_strings_comments_hints_and_backticks() -> None:
    script = (
        'select "a;\\";", \'b\\\';\' , `c;d` # e;f\n;'
        "select 1--1;"  # `--` without a blank is arithmetic
        "select 2 -- a comment; still\n;"
        "/*!40101 SET @x=1; */;"
        "select /*+ MAX_EXECUTION_TIME(1) */ 3"
    )
    assert texts(script, "mysql") == [
        'select "a;\\";", \'b\\\';\' , `c;d`',
        "select 1--1",
        "select 2",
        "/*!40101 SET @x=1; */",
        "select /*+ MAX_EXECUTION_TIME(1) */ 3",
    ]


def test_mysql_delimiter_command() -> None:
    script = (
        "DELIMITER //\n"
        "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END//\n"
        "delimiter ;\n"
        "CALL p();\n"
    )
    stmts = split_statements(script, "mysql")
    assert [(s.line, s.text) for s in stmts] == [
        (2, "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END"),
        (4, "CALL p()"),
    ]


def test_mysql_compound_bodies_without_delimiter() -> None:
    script = (
        "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN "
        "IF NEW.a > 1 THEN SET NEW.b = 1; END IF; "
        "SET NEW.c = CASE WHEN NEW.a = 1 THEN 2 ELSE 3 END; "
        "WHILE 0 DO SET @x = 1; END WHILE; "
        "BEGIN SET @y = 2; END; "
        "END; SELECT 1"
    )
    out = texts(script, "mysql")
    assert len(out) == 2 and out[0].endswith("END; END") and out[1] == "SELECT 1"


def test_sqlite_trigger_body_and_bracket_names() -> None:
    script = (
        "create trigger tr after insert on t begin insert into log values (new.a); "
        "update x set [a;b] = case when 1 then 2 end; end; select `x;y`, \"p;q\""
    )
    assert texts(script, "sqlite") == [
        "create trigger tr after insert on t begin insert into log values (new.a); "
        "update x set [a;b] = case when 1 then 2 end; end",
        "select `x;y`, \"p;q\"",
    ]


def test_unterminated_literal_runs_to_the_end() -> None:
    assert texts("select 'abc; select 2", "postgresql") == ["select 'abc; select 2"]
    assert texts("select 1; /* open; select 2", "postgresql") == ["select 1"]


def test_mariadb_is_mysql() -> None:
    assert texts("select 1--1; select `a;b` # c;\n", "mariadb") == ["select 1--1", "select `a;b`"]


def test_unknown_dialect_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown SQL dialect"):
        split_statements("select 1", "oracle")


# ------------------------------------------------------------------------------------------ properties

_WORDS = ["select", "a", "b1", "x_y", "42", "+", "(", ")", ",", "=", "*", "from", "t", "where", "<>"]
_CONTENT = st.text(alphabet=list("ab ;'\"`-/*$#\\\n\tü"), max_size=12)


def _string_literal(content: str, dialect: str) -> str:
    if DIALECTS[dialect].backslash_strings:
        content = content.replace("\\", "\\\\")
    return "'" + content.replace("'", "''") + "'"


def _line_comment(content: str, dialect: str) -> str:
    return "-- " + content.replace("\n", " ") + "\n"


def _block_comment(content: str, dialect: str) -> str:
    body = content.replace("*/", "* /").replace("/*", "/ *")
    if DIALECTS[dialect].hints:
        body = body.lstrip("!+")
    return "/* " + body + " */"


def _name(content: str, dialect: str) -> str:
    q = "`" if DIALECTS[dialect].backtick_names else '"'
    if DIALECTS[dialect].double_quote_is_string and q == '"':  # pragma: no cover - mysql has backticks
        q = "`"
    return q + content.replace(q, q + q) + q


def _dollar(content: str, dialect: str) -> str:
    body = content.replace("$", "")
    return "$q$" + body + "$q$"


@st.composite
def scripts(draw: st.DrawFn, dialect: str) -> tuple[str, list[str]]:
    """A script and the statements it is made of, built from literals and comments holding `;`."""
    makers = [_string_literal, _line_comment, _block_comment, _name]
    if DIALECTS[dialect].dollar_quotes:
        makers.append(_dollar)
    statements = []
    for _ in range(draw(st.integers(1, 4))):
        pieces = [draw(st.sampled_from(_WORDS))]
        for _ in range(draw(st.integers(0, 5))):
            maker = draw(st.sampled_from(makers))
            pieces.append(maker(draw(_CONTENT), dialect))
            pieces.append(draw(st.sampled_from(_WORDS)))  # statements begin and end with code
        statements.append(" ".join(pieces))
    gaps = st.sampled_from([";", ";\n", " ; ", ";;", "; -- tail; 'x\n", ";/* ; */", "\n;\n"])
    script = draw(st.sampled_from(["", "-- lead;\n", "  \n"]))
    for s in statements:
        script += s + draw(gaps)
    return script, statements


@pytest.mark.parametrize("dialect", NAMES)
def test_property_split_gives_back_the_statements_never_cutting_a_literal(dialect: str) -> None:
    @settings(max_examples=150, deadline=None)
    @given(scripts(dialect))
    def check(case: tuple[str, list[str]]) -> None:
        script, statements = case
        assert texts(script, dialect) == statements

    check()


def test_mysql_dash_dash_before_the_terminator_is_code_as_in_the_mysql_client() -> None:
    assert texts("--;", "mysql") == ["--"]
    assert texts("select 1 --;", "mysql") == ["select 1 --"]
    assert texts("select 1 -- ;", "mysql") == ["select 1"]


def _alone(text: str, dialect: str) -> list[str]:
    """What a statement's own text splits into when sent alone.

    Itself, except in MySQL where `--` right before the `;` was code (a dash comment needs a blank after it) but
    ends the text sent alone, where MySQL's server and client read it as a comment: `--;` sends `--`, which the
    server answers with "Query was empty", exactly as the `mysql` client does.
    """
    spans = list(lex(text, dialect))
    if dialect == "mysql" and spans and spans[-1].kind == COMMENT and spans[-1].start == len(text) - 2:
        rest = text[:-2].rstrip()
        return [rest] if rest else []
    return [text]


_ANY = st.text(alphabet=list("ab ;'\"`-/*$#\\\nE[]"), max_size=60)


@pytest.mark.parametrize("dialect", NAMES)
def test_property_statements_are_ordered_slices_and_splitting_is_stable(dialect: str) -> None:
    @settings(max_examples=200, deadline=None)
    @given(_ANY)
    def check(script: str) -> None:
        stmts = split_statements(script, dialect)
        pos = 0
        for s in stmts:
            assert s.text and s.text == s.text.lstrip()  # an unterminated literal may end in blanks
            assert script[s.start : s.start + len(s.text)] == s.text and s.start >= pos
            assert s.line == script.count("\n", 0, s.start) + 1
            pos = s.start + len(s.text)
            assert texts(s.text, dialect) == _alone(s.text, dialect)  # a statement is one statement
        assert "".join(script[sp.start : sp.end] for sp in lex(script, dialect)) == script

    check()
