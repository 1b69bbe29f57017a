"""(JSDoc, code) mining from JavaScript/TypeScript: exact pairs, every skip counted, doc_id by file, the CLI."""

from __future__ import annotations

import pytest

from gtekit.data.extract.base import MinedPair
from gtekit.data.extract.javascript_code import jsdoc_description, mine_javascript

UTIL_JS = """\
/**
 * @license MIT
 */

'use strict';

/**
 * Adds two numbers and returns the sum.
 * See {@link Math.add|the add docs} for details.
 * @param {number} a first
 * @returns {number}
 */
export function add(a, b) {
  return a + b;
}

/** Too short. */
function short() { return 1; }

/**
 * Greets people by name, politely.
 */
export default class Greeter {
  /**
   * Builds a greeting for the stored name.
   */
  greet() {
    return `Hello,
  ${this.name}`;
  }

  /** Private helper that is never mined. */
  _secret() { return 0; }
}

/**
 * Doubles a number quickly and returns it.
 */
// eslint-disable-next-line
const double = (x) => x * 2;

/**
 * Wraps a value in an object with helpers.
 */
function wrap(value) {
  /**
   * Nested helper inside a mined function.
   */
  function inner() { return value; }
  return { value, inner };
}

/** An empty function that does nothing. */
function noop() {}

/** @typedef {Object} Options */

(function () {
  /**
   * Defined inside an IIFE wrapper here.
   */
  function insideIife() { return 42; }
})();

/**
 * Sets the bar value on the prototype.
 * @public
 */

Foo.prototype.setBar = function (v) { this.bar = v; };

/**
 * Checks the value internally for the library.
 * @private
 */
function check(v) { return !!v; }

/**
 * The largest size that we allow here.
 */
const MAX = 10;

/**
 * Converts a string to camel case form.
 */
var camelCase = createCompounder(function (result, word) { return result + word; });
"""

SERVICE_TS = """\
/**
 * A service that handles requests well.
 */
@Injectable()
export class Svc<T> {
  /**
   * Handles one request and returns it.
   */
  handle = (x: number): number => x;

  /** Overload signature of the get method. */
  get(a: string): string;
  get(a: any): any { return a; }
}

/** An interface is not a definition here. */
export interface Options { a: number }
"""

BUTTON_TSX = """\
/**
 * Renders a button with the given label.
 */
export const Button = ({ label }: { label: string }) => <button>{label}</button>;
"""

BROKEN_JS = """\
/**
 * A function with a syntax error inside.
 */
function broken( { return ; }

/**
 * Multiplies two numbers and returns the product.
 */
function times(a, b) { return a * b; }
"""


@pytest.fixture
def project(tmp_path, write_tree):
    return write_tree(tmp_path / "project", {
        "src/lib/util.js": UTIL_JS,
        "src/lib/util.min.js": "/** Minified code is never mined. */ function f(){return 1}",
        "src/svc.ts": SERVICE_TS,
        "src/ui/button.tsx": BUTTON_TSX,
        "src/types.d.ts": "/** A declared function here. */ declare function g(x: number): void;\n",
        "src/broken.js": BROKEN_JS,
        "src/bad.js": b"/** Latin-1 caf\xe9 text. */ function cafe() { return 1; }\n",
        "src/copy.js": "/**\n * Adds two numbers and returns the sum.\n * See {@link Math.add|the add docs} for "
                       "details.\n */\nexport function add(a, b) {\n  return a + b;\n}\n",
        "node_modules/dep/index.js": "/** Dependency code is skipped. */ function dep() { return 1; }\n",
        "README.md": "# Project\n",
    })


def test_pairs_are_exact(project):
    pairs, report = mine_javascript([project])
    assert pairs == [
        MinedPair("Adds two numbers and returns the sum.\nSee the add docs for details.",
                  "export function add(a, b) {\n  return a + b;\n}", "src/copy.js"),
        MinedPair("Greets people by name, politely.",
                  UTIL_JS[UTIL_JS.index("export default class"):UTIL_JS.index("/**\n * Doubles")].rstrip(),
                  "src/lib/util.js"),
        MinedPair("Builds a greeting for the stored name.",
                  "greet() {\n  return `Hello,\n  ${this.name}`;\n}", "src/lib/util.js"),
        MinedPair("Doubles a number quickly and returns it.", "const double = (x) => x * 2;", "src/lib/util.js"),
        MinedPair("Wraps a value in an object with helpers.",
                  "function wrap(value) {\n  /**\n   * Nested helper inside a mined function.\n   */\n"
                  "  function inner() { return value; }\n  return { value, inner };\n}", "src/lib/util.js"),
        MinedPair("Defined inside an IIFE wrapper here.", "function insideIife() { return 42; }", "src/lib/util.js"),
        MinedPair("Sets the bar value on the prototype.",
                  "Foo.prototype.setBar = function (v) { this.bar = v; };", "src/lib/util.js"),
        MinedPair("Converts a string to camel case form.",
                  "var camelCase = createCompounder(function (result, word) { return result + word; });",
                  "src/lib/util.js"),
        MinedPair("A service that handles requests well.", SERVICE_TS[SERVICE_TS.index("@Injectable"):
                                                                     SERVICE_TS.index("\n\n/** An interface")],
                  "src/svc.ts"),
        MinedPair("Handles one request and returns it.", "handle = (x: number): number => x", "src/svc.ts"),
        MinedPair("Renders a button with the given label.",
                  "export const Button = ({ label }: { label: string }) => <button>{label}</button>;",
                  "src/ui/button.tsx"),
    ]
    for pair in pairs:
        assert "/**" not in pair.positive.split("\n", 1)[0]  # the doc comment is never part of the code
    assert report.documents == 5  # broken, copy, util, svc, button; bad.js could not be decoded
    assert report.pairs == len(pairs)
    assert dict(report.skipped) == {
        "folder skipped (node_modules)": 1,
        "not a JavaScript/TypeScript file": 1,  # README.md
        "minified file (.min.js)": 1,
        "TypeScript declaration file (.d.ts)": 1,
        "not UTF-8": 1,
        "syntax error near the doc comment": 2,  # broken.js: tree-sitter's recovery swallows both
        "file header comment (@license, @file, @module, ...)": 1,
        "doc description too short": 1,
        "private definition": 2,  # _secret, @private check
        "doc comment inside a mined function's code": 1,
        "empty body": 1,
        "type comment (@typedef, @callback)": 1,
        "doc comment on something other than a function, class or method": 2,  # MAX, the interface
        "declaration without a body": 1,  # the overload signature
        "duplicate pair": 1,  # util.js's add, already mined from copy.js
    }
    assert report.failed == [(str(project / "src" / "bad.js"), "not UTF-8: byte 0xe9 at offset 15")]


def test_options_and_determinism(project):
    assert mine_javascript([project]) == mine_javascript([project])
    pairs, report = mine_javascript([project], include_classes=False, min_doc_words=6, max_code_chars=40)
    # wrap() is too long, so its documented helper is no longer part of a mined pair's code: it is mined
    assert [(pair.query, pair.doc_id) for pair in pairs] == [
        ("Doubles a number quickly and returns it.", "src/lib/util.js"),
        ("Nested helper inside a mined function.", "src/lib/util.js"),
        ("Defined inside an IIFE wrapper here.", "src/lib/util.js"),
        ("Handles one request and returns it.", "src/svc.ts")]
    assert report.skipped["class (classes left out)"] == 2
    assert report.skipped["doc description too short"] == 1
    assert report.skipped["code too long"] == 7  # add (twice), greet, wrap, setBar, camelCase, Button
    with pytest.raises(ValueError, match="min_doc_words"):
        mine_javascript([project], min_doc_words=0)


def test_jsdoc_description():
    assert jsdoc_description("/** One line. */") == "One line."
    assert jsdoc_description("/**\n * @description From the tag,\n *   two lines.\n * @param x\n */") == \
        "From the tag,\ntwo lines."
    assert jsdoc_description("/** See {@link Foo} and {@link http://x.y the site}. {@inheritDoc} */") == \
        "See Foo and the site."
    assert jsdoc_description("/**\n * @returns {number}\n */") == ""


def test_cli(project, mine_cli, read_rows):
    code, output, out = mine_cli("javascript", str(project / "src"), "--held-out", "0.5", "--name", "js")
    assert code == 0
    train, held = read_rows(out / "js.jsonl"), read_rows(out / "held-out" / "js.jsonl")
    assert len(train) + len(held) == 11 and train and held
    assert not {row["doc_id"] for row in train} & {row["doc_id"] for row in held}  # split by file
    assert set(train[0]) == {"query", "positive", "doc_id"}
    assert "mined 11 pairs" in output and "2  private definition" in output
    assert "bad.js: not UTF-8" in output
    code, output, _ = mine_cli("javascript", str(project), "--heading-path")
    assert code == 2 and "--heading-path does not apply to javascript" in output
