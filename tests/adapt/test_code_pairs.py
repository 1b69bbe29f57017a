"""Code pairs from one source document: the language table, definitions in 15 languages, doc comments, pairs."""

from __future__ import annotations

import pytest

from gtekit.adapt.code_definitions import LANGUAGE_NAMES, scan_definitions
from gtekit.adapt.code_pairs import LANGUAGES, code_pairs, find_definitions, identifier_words, language_of
from gtekit.adapt.documents import Document
from tests.adapt.code_samples import SAMPLES


def names(text: str, language: str) -> list[str]:
    return [definition.name for definition in find_definitions(text, language)]


def pairs_of(text: str, language: str, doc_id: str = "repo/file") -> tuple[dict, dict]:
    pairs, skipped = code_pairs(Document(doc_id, text, path="file", language=language))
    return pairs, dict(skipped)


# --- languages ----------------------------------------------------------------------------------------------

def test_extension_table_covers_every_language_with_a_sample():
    assert set(LANGUAGES.values()) == set(SAMPLES) == set(LANGUAGE_NAMES)
    expected = {".py": "python", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
                ".tsx": "typescript", ".h": "c", ".hpp": "cpp", ".cxx": "cpp", ".cs": "csharp", ".bash": "shell",
                ".kt": "kotlin", ".scala": "scala", ".swift": "swift", ".rb": "ruby", ".php": "php", ".rs": "rust"}
    assert {extension: LANGUAGES[extension] for extension in expected} == expected


@pytest.mark.parametrize(("path", "first_line", "language"), [
    ("src/Main.java", None, "java"),
    ("lib/UTIL.PY", None, "python"),
    ("README.md", None, ""),
    ("notes.txt", "#!/bin/sh", ""),  # an extension decides alone
    ("bin/deploy", "#!/bin/sh", "shell"),
    ("bin/deploy", "#!/usr/bin/env bash", "shell"),
    ("bin/tool", "#!/usr/bin/env -S python3 -u", "python"),
    ("bin/tool", "#!/usr/local/bin/python3.11", "python"),
    ("bin/serve", "#!/usr/bin/env node", "javascript"),
    ("bin/rake", "#!/usr/bin/env ruby", "ruby"),
    ("Makefile", "all: build", ""),
    ("bin/empty", "", ""),
])
def test_language_of_reads_extensions_and_shebangs(path, first_line, language):
    assert language_of(path, first_line) == language


def test_language_of_reads_the_shebang_of_a_file(tmp_path):
    (tmp_path / "install").write_text("#!/usr/bin/env bash\nset -e\n")
    (tmp_path / "LICENSE").write_text("MIT License\n")
    assert language_of(tmp_path / "install") == "shell"
    assert language_of(tmp_path / "LICENSE") == ""
    assert language_of(tmp_path / "missing") == ""


@pytest.mark.parametrize(("name", "words"), [
    ("parseHTTPResponse2", "parse http response 2"),
    ("read_file_v2", "read file v2"),
    ("XMLHttpRequest", "xml http request"),
    ("getURL", "get url"),
    ("IOError", "io error"),
    ("kebab-case-name", "kebab case name"),
    ("__init__", "init"),
    ("Tokenizer::Tokenizer", "tokenizer tokenizer"),
    ("SCREAMING_SNAKE", "screaming snake"),
    ("sha256sum", "sha 256 sum"),
    ("x86_64", "x86 64"),
    ("$el", "el"),
])
def test_identifier_words(name, words):
    assert identifier_words(name) == words


# --- definitions in every language --------------------------------------------------------------------------

@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_definitions_and_doc_comments(language):
    path, text, expected = SAMPLES[language]
    definitions = find_definitions(text, language)
    assert [(d.name, d.doc_comment[: len(doc)]) for d, (_, doc) in zip(definitions, expected, strict=False)] == expected
    assert len(definitions) == len(expected)
    assert all(bool(d.doc_comment) == bool(doc) for d, (_, doc) in zip(definitions, expected, strict=True))
    lines = text.split("\n")
    for definition in definitions:
        header = "\n".join(lines[definition.start_line - 1:definition.start_line + 1])  # GNU C: the type above
        assert definition.name.rsplit("::", 1)[-1] in header
        assert definition.body.split("\n", 1)[0].strip() in lines[definition.start_line - 1]
        assert all(line.strip() in definition.body for line in definition.block.split("\n"))
        if definition.doc_comment:
            assert definition.doc_comment not in definition.body
        assert "@param" not in definition.doc_comment and "<summary>" not in definition.doc_comment
    assert language_of(path) == language


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_pairs_from_every_language(language):
    path, text, expected = SAMPLES[language]
    pairs, _ = code_pairs(Document("project/" + path, text, path=path, language=language))
    documented = [name for name, doc in expected if doc and not (language == "python" and name.startswith("_"))]
    assert [pair.query[:20] for pair in pairs["code_doc_comment"]] == [
        doc[:20] for name, doc in expected if name in documented]
    assert pairs["code_signature"], "every sample has a body long enough for a signature pair"
    for pair in pairs["code_signature"] + pairs["code_doc_comment"]:
        assert pair.doc_id == "project/" + path
        assert pair.query not in pair.positive
        assert pair.positive.strip() and pair.query.strip()


def test_exact_pairs_for_go():
    _, text, _ = SAMPLES["go"]
    pairs, skipped = pairs_of(text, "go", doc_id="store.go")
    open_store = pairs["code_signature"][0]
    assert open_store.query == "open store: func OpenStore(path string, opts *Options) (*Store, error)"
    assert open_store.positive.startswith("if err := os.MkdirAll(path, 0o755); err != nil {\n\treturn nil")
    assert open_store.positive.endswith("return s, s.load()")
    (doc,) = pairs["code_doc_comment"]
    assert doc.query == ("OpenStore opens the key-value store at path, creating its folder\n"
                         "when it does not exist yet.")  # the //go:noinline directive is not description
    assert doc.positive.startswith("func OpenStore(") and doc.positive.endswith("return s, s.load()\n}")
    assert skipped == {"no doc comment": 1}  # the license header is separated by a blank line


def test_doc_comment_cleaning():
    docs = {language: find_definitions(SAMPLES[language][1], language)[0].doc_comment
            for language in ("java", "csharp", "rust", "swift", "typescript", "c", "kotlin", "ruby")}
    assert docs["java"] == "Creates a new order for the customer and reserves the stock of every line."
    assert docs["csharp"] == ("Computes the total of an invoice including tax, rounded to cents.\n"
                              "See TaxTable for the rates.")  # <see cref="TaxTable"/> kept as its name
    assert docs["rust"] == "Parse `key = value` lines into a map, ignoring comments."  # stops at "# Examples"
    assert docs["swift"] == 'Formats a duration in seconds as a short human-readable string,\nsuch as "1h 5m".'
    assert docs["typescript"] == "Parse the query string of a request into a typed record."
    assert docs["c"] == "Count the number of lines in a buffer, treating a trailing\npartial line as a full line."
    assert docs["kotlin"] == "Ranks the documents by how many query terms they contain,\nhighest first."
    assert docs["ruby"] == "Compute the total of all line items, applying the discount\nwhen the customer has one."


def test_python_pairs_leave_out_the_docstring_and_private_names():
    _, text, _ = SAMPLES["python"]
    pairs, skipped = pairs_of(text, "python")
    (doc,) = pairs["code_doc_comment"]
    assert doc.query == "Read a JSON configuration file and check its required keys."
    assert doc.positive.startswith("def load_config(path, *, strict=True):\n    with open(path")
    assert '"""' not in doc.positive
    assert [pair.query for pair in pairs["code_signature"]] == [
        "load config: def load_config(path, *, strict=True)",
        "get or compute: def get_or_compute(self, key, compute)"]
    assert pairs["code_signature"][1].positive.startswith("if key not in self.values:\n    self.values[key]")
    assert skipped["private Python name"] == 1


# --- edge cases ---------------------------------------------------------------------------------------------

def test_braces_in_strings_comments_and_literals_do_not_end_a_body():
    cases = {
        "c": ('int f(char c) {\n    if (c == \'{\') /* { */ puts("}}");\n    return 0;\n}\nint g(void) {\n'
              "    return 1;\n}\n", ["f", "g"]),
        "rust": ("fn f<'a>(s: &'a str) -> char {\n    let _r = r#\"}\"#;\n    '{'\n}\n"
                 "fn g() -> u8 {\n    0\n}\n", ["f", "g"]),
        "javascript": ("function f(s) {\n  const re = /\\}/g; // }\n  return `${s}}` + '}';\n}\n"
                       "function g() {\n  return 1 / 2 / 3;\n}\n", ["f", "g"]),
        "go": ("func f() string {\n\treturn `}\n` + \"}\" + string('}')\n}\n\nfunc g() {\n}\n", ["f", "g"]),
        "kotlin": ('fun f(m: Map<String, String>): String {\n    return "${m["}"]} }"\n}\n'
                   "fun g(): Int {\n    return 1\n}\n", ["f", "g"]),
        "shell": ('f() {\n  echo "${#a} $(printf "}")" # }\n  cat <<-EOF\n\t}\n\tEOF\n}\n'
                  "g() {\n  echo '}'\n}\n", ["f", "g"]),
        "csharp": ('class A {\n    string F() {\n        return @"}" + $"{x}}}";\n    }\n'
                   "    int G() {\n        return 1;\n    }\n}\n", ["F", "G"]),
    }
    for language, (text, expected) in cases.items():
        definitions = find_definitions(text, language)
        assert [d.name for d in definitions] == expected, language
        assert all(d.body.rstrip().endswith("}") for d in definitions), language


def test_rust_lifetimes_are_not_character_literals():
    text = ("impl<'a> Parser<'a> {\n    pub fn next_token(&mut self) -> Option<&'a str> {\n"
            "        let start = self.pos;\n        self.pos += 1;\n"
            "        self.input.get(start..self.pos)\n    }\n}\n")
    (definition,) = find_definitions(text, "rust")
    assert definition.signature == "pub fn next_token(&mut self) -> Option<&'a str>"
    assert definition.block == "let start = self.pos;\nself.pos += 1;\nself.input.get(start..self.pos)"


def test_nested_functions_belong_to_their_parent():
    rust = "fn outer() -> u32 {\n    fn inner() -> u32 {\n        1\n    }\n    inner()\n}\n"
    assert names(rust, "rust") == ["outer"]
    assert names("def outer():\n    def inner():\n        return 1\n    return inner()\n", "python") == ["outer"]
    assert names("function outer() {\n  function inner() {\n    return 1;\n  }\n  return inner;\n}\n",
                 "javascript") == ["outer"]
    go = "func Handler() http.HandlerFunc {\n\treturn func(w http.ResponseWriter, r *http.Request) {\n\t}\n}\n"
    assert names(go, "go") == ["Handler"]


def test_declarations_without_a_body_are_not_definitions():
    assert names("int parse(const char *s);\nstatic void run(void);\nint main(void) {\n    return 0;\n}\n",
                 "c") == ["main"]
    assert names("trait Store {\n    fn load(&self) -> Vec<u8>;\n    fn size(&self) -> usize {\n        0\n    }\n}\n",
                 "rust") == ["size"]
    assert names("protocol P {\n    func load() -> Data\n    func save(_ d: Data)\n}\n", "swift") == []
    assert names("fun twice(x: Int) = x * 2\nfun thrice(x: Int): Int {\n    return x * 3\n}\n", "kotlin") == ["thrice"]
    assert names("class A {\n    public int Count => items.Count;\n    public int Twice(int x) => x * 2;\n}\n",
                 "csharp") == []
    assert names("class A {\n    virtual void draw() = 0;\n    A(const A&) = delete;\n};\n", "cpp") == []
    ts = ("export function pad(x: string): string;\nexport function pad(x: any): string {\n"
          "  return String(x);\n}\n")
    assert [d.start_line for d in find_definitions(ts, "typescript")] == [2]


def test_control_statements_and_calls_are_not_definitions():
    js = ('describe("cart", () => {\n  it("adds", () => {\n    if (cart.size() > 0) {\n      expect(1);\n    }\n'
          "  });\n});\nif (ready) {\n  start();\n}\nwhile (queue.length) {\n  queue.pop();\n}\n"
          'const s = "function fake() {";\n// function commented() {\n')
    assert names(js, "javascript") == []
    java = ("class A {\n    void run() {\n        if (x) {\n            y();\n        }\n"
            "        synchronized (lock) {\n        }\n    }\n}\n")
    assert names(java, "java") == ["run"]
    c = "struct ops table = {\n    .open = my_open,\n};\nint x = compute(3);\n#define MAX(a, b) { (a) > (b) }\n"
    assert names(c, "c") == []


def test_a_preprocessor_imbalance_never_joins_two_functions():
    text = ("int main(int argc) {\n#ifdef WIN\n    if (argc > 1) {\n#else\n    if (argc > 2) {\n#endif\n"
            "        return 1;\n    }\n    return 0;\n}\n\nint next(void) {\n    return 2;\n}\n")
    definitions, skipped = scan_definitions(text, "c")
    assert [d.name for d in definitions] == ["next"]
    assert skipped["unbalanced braces"] == 1


def test_license_header_is_never_a_query():
    text = ("/*\n * Copyright (c) 2021 Example Inc.\n * Licensed under the MIT License.\n */\n"
            "int add(int a, int b)\n{\n    int sum = a + b;\n    log_value(sum);\n    return sum;\n}\n")
    (definition,) = find_definitions(text, "c")
    assert "Copyright" in definition.doc_comment
    pairs, skipped = pairs_of(text, "c")
    assert pairs["code_doc_comment"] == []
    assert skipped["doc comment is a license header"] == 1
    assert [pair.query for pair in pairs["code_signature"]] == ["add: int add(int a, int b)"]


def test_doc_comments_that_make_no_query():
    text = ("// old_add(a, b);\n// return a + b;\nint sub(int a, int b) {\n    return a - b;\n}\n"
            "// TODO: make this faster for large inputs\nint mul(int a, int b) {\n    return a * b;\n}\n"
            "/* DO NOT EDIT: generated by protoc-gen-c. */\nint half(int a) {\n    return a / 2;\n}\n"
            "/* Negate it. */\nint neg(int a) {\n    return -a;\n}\n"
            "/* Returns the absolute value of x. */\n\nint absval(int x) {\n    return x < 0 ? -x : x;\n}\n")
    pairs, skipped = pairs_of(text, "c")
    assert pairs["code_doc_comment"] == []
    assert skipped["doc comment is commented-out code"] == 1
    assert skipped["doc comment is a TODO note"] == 1
    assert skipped["doc comment marks generated code"] == 1
    assert skipped["doc comment too short"] == 1
    assert skipped["no doc comment"] == 1  # absval: a blank line parts the comment from the function


def test_module_docs_and_plain_comments_are_not_doc_comments():
    rust = "//! The crate's docs.\nfn first() -> u8 {\n    1\n}\n// A plain comment.\nfn second() -> u8 {\n    2\n}\n"
    assert [d.doc_comment for d in find_definitions(rust, "rust")] == ["", ""]
    java = "class A {\n    // Not Javadoc.\n    void f() {\n        g();\n    }\n}\n"
    assert find_definitions(java, "java")[0].doc_comment == ""
    shell = "#!/bin/sh\nusage() {\n  echo usage\n}\n"
    assert find_definitions(shell, "shell")[0].doc_comment == ""


def test_code_too_long_and_documents_that_are_not_code():
    big = "int big(void) {\n" + "    call();\n" * 500 + "}\n"
    pairs, skipped = pairs_of(big, "c")
    assert pairs == {"code_signature": [], "code_doc_comment": []} and skipped == {"code too long": 1}
    pairs, skipped = code_pairs(Document("notes", "Just some prose.", path="notes.md"))
    assert not any(pairs.values()) and skipped == {"not source code in a known language": 1}
    pairs, _ = code_pairs(Document("tool", "#!/usr/bin/env python3\ndef main(argv):\n    '''Run the tool on "
                                   "its arguments.'''\n    return run(argv)\n", path="bin/tool"))
    assert [pair.query for pair in pairs["code_doc_comment"]] == ["Run the tool on its arguments."]


def test_windows_line_endings_and_unknown_languages():
    text = "/// Adds one to the number.\r\nfn inc(x: u8) -> u8 {\r\n    x + 1\r\n}\r\n"
    (definition,) = find_definitions(text, "rust")
    assert definition.doc_comment == "Adds one to the number." and "\r" not in definition.body
    with pytest.raises(ValueError, match="known: python, c, cpp"):
        find_definitions("x", "cobol")


def test_ruby_blocks_are_counted_past_strings_regexes_and_modifiers():
    text = ('class Route\n  def process(route)\n    path = "/#{route}" if route\n    ok = route =~ /["\']end/\n'
            "    tail = $'\n    quote = ?\"\n    items.each do |item|\n      puts item.end\n    end\n"
            "    x = if path then 1 else 2 end\n    path\n  end\n\n  def self.create = new\n\n"
            "  def done?; true; end\nend\n")
    definitions = find_definitions(text, "ruby")
    assert [(d.name, d.start_line) for d in definitions] == [("process", 2), ("done?", 16)]
    assert definitions[0].body.endswith("path\nend")


def test_javadoc_doxygen_and_jsdoc_details():
    java = ("class A {\n    /**\n     * Parses {@code a < b} like {@link #parse(String, int)},\n"
            "     * see {@link Map the map}.\n     */\n    public int parse(String s) {\n        return 0;\n    }\n}\n")
    assert find_definitions(java, "java")[0].doc_comment == "Parses a < b like parse,\nsee the map."
    c = ("/**\n * \\brief Frees the buffer and its pages.\n * \\param buf the buffer\n */\n"
         "void buffer_free(struct buffer *buf) {\n    free(buf);\n}\n")
    assert find_definitions(c, "c")[0].doc_comment == "Frees the buffer and its pages."
    js = ("/**\n * @license MIT\n */\nfunction first() {\n  return 1;\n}\n\n/**\n * Render the view with its options.\n"
          " */\n\n// a note in between\nexports.render = function render(view, options) {\n"
          "  return view(options);\n};\n")  # JSDoc may stand apart from its function
    assert [(d.name, d.doc_comment) for d in find_definitions(js, "javascript")] == [
        ("first", ""), ("render", "Render the view with its options.")]
