import Foundation
import Testing
@testable import MnemoIngest

@Suite struct FormatTests {
    @Test func formatsByExtension() {
        #expect(DocumentFormat(path: "a/b.txt") == .text)
        #expect(DocumentFormat(path: "b.TEXT") == .text)
        #expect(DocumentFormat(path: "notes.md") == .markdown)
        #expect(DocumentFormat(path: "notes.Markdown") == .markdown)
        #expect(DocumentFormat(path: "page.html") == .html)
        #expect(DocumentFormat(path: "page.HTM") == .html)
        #expect(DocumentFormat(path: "records.jsonl") == .jsonl)
        #expect(DocumentFormat(path: "paper.pdf") == .pdf)
        #expect(DocumentFormat(path: "data.json") == nil)
        #expect(DocumentFormat(path: "README") == nil)
        #expect(DocumentFormat(path: ".txt") == nil)  // a hidden file called "txt", not an extension
        #expect(DocumentFormat(path: "dir.md/file") == nil)
        #expect(DocumentFormat(path: "trailing.") == nil)
    }

    @Test func skipReasonDescription() {
        #expect(SkipReason(path: "a.bin", reason: "binary").description == "a.bin: binary")
    }
}

@Suite struct ReadTests {
    @Test func plainText() throws {
        let dir = try TempDir()
        let contents = "Héllo wörld.\nSecond line — with dashes.\n"
        let path = try dir.write("a.txt", contents)
        let (doc, warnings) = try DocumentReader.read(path: path)
        #expect(warnings.isEmpty)
        #expect(doc.format == .text)
        #expect(doc.source == path)
        #expect(doc.segments.count == 1)
        let segment = try #require(doc.segments.first)
        #expect(segment.text == contents)
        #expect(segment.byteRange == 0..<contents.utf8.count)
        #expect(segment.textOffset == 0)
    }

    @Test func byteOrderMarkIsNotText() throws {
        let dir = try TempDir()
        let path = try dir.write("bom.txt", [0xEF, 0xBB, 0xBF] + Array("Text after a BOM.".utf8))
        let segment = try #require(try DocumentReader.read(path: path).document.segments.first)
        #expect(segment.text == "Text after a BOM.")
        #expect(segment.byteRange == 3..<20)
        #expect(segment.textOffset == 3)
    }

    @Test func markdownKeptAsIs() throws {
        let dir = try TempDir()
        let contents = "# Title\n\nSome *emphasis* and `code`.\n\n```swift\nlet x = 1\n```\n"
        let path = try dir.write("notes.md", contents)
        let doc = try DocumentReader.read(path: path).document
        #expect(doc.format == .markdown)
        #expect(doc.segments.map(\.text) == [contents])
    }

    @Test func htmlVisibleTextOnly() throws {
        let dir = try TempDir()
        let html = """
        <!DOCTYPE html>
        <html><head><title>The &amp; Title</title>
        <meta charset="utf-8"><style>body { color: red; } p > a { x: "<p>" }</style>
        <script>var s = "<p>not text</p>"; if (a < b) {}</script></head>
        <body>
        <!-- a comment <p>hidden</p> -->
        <h1>Heading</h1><p>First   paragraph
        with a line break &amp; an entity: &lt;tag&gt; &quot;q&quot; &apos;a&apos; caf&#233; &#x263A;&nbsp;end.</p>
        <div>Line one<br>Line two</div>
        <ul><li>One</li><li>Two</li></ul>
        <table><tr><td>a</td><td>b</td></tr></table>
        <p>Fake &bogus; entity &amp rest and 3 < 4 ok.</p>
        <a href="x" title='a > b'>link text</a>
        <SCRIPT type="text/javascript">alert("upper case")</SCRIPT >
        <noscript>Enable JS</noscript><svg><title>icon</title><text>svg text</text></svg>
        </body></html>
        """
        let path = try dir.write("page.html", html)
        let doc = try DocumentReader.read(path: path).document
        #expect(doc.format == .html)
        let segment = try #require(doc.segments.first)
        let expected = """
        Heading

        First paragraph with a line break & an entity: <tag> "q" 'a' café ☺ end.

        Line one
        Line two

        One

        Two

        a b

        Fake &bogus; entity &amp rest and 3 < 4 ok.

        link text
        """
        #expect(segment.text == expected)
        #expect(segment.metadata == ["title": "The & Title"])
        #expect(segment.byteRange == 0..<html.utf8.count)  // html segments span the whole file
        #expect(segment.textOffset == nil)
        for hidden in ["var s", "color", "comment", "hidden", "upper case", "Enable JS", "icon", "svg text", "not text"] {
            #expect(!segment.text.contains(hidden), "\(hidden) leaked")
        }
    }

    @Test func htmlUnclosedAndOddMarkup() throws {
        let dir = try TempDir()
        let path = try dir.write("odd.htm", "<p>Before<!-- never closed <p>gone")
        #expect(try DocumentReader.read(path: path).document.segments.map(\.text) == ["Before"])
        let pre = try dir.write("pre.html", "<pre>line 1\nline 2</pre><p>a&#0;b&#xD800;c&#99999999;</p>")
        #expect(try DocumentReader.read(path: pre).document.segments.map(\.text) == ["line 1\nline 2\n\na\u{FFFD}b\u{FFFD}c\u{FFFD}"])
        let tagsOnly = try dir.write("empty.html", "<html><head><title>Only a title</title></head><body> </body></html>")
        #expect(skipReason(tagsOnly)?.reason.contains("no visible text") == true)
    }

    @Test func jsonlRecordsAndMetadata() throws {
        let dir = try TempDir()
        let lines = [
            #"{"text": "First record.", "id": 7, "tags": ["a", "b c"], "source": "notes", "ok": true, "none": null, "nested": {"k": [1, 2.50]}}"#,
            "",
            #"{"id": 8, "text": "Escaped \"quote\" and \u00e9 and \ud83d\ude00."}"#,
            #"["not", "an", "object"]"#,
            #"{"text": "unterminated"#,
            #"{"title": "no text field"}"#,
            #"{"text": 42}"#,
            #"{"text": "   "}"#,
            "{\"text\": \"CRLF line.\"}\r",
            #"{"text": "trailing"} x"#,
        ]
        let contents = lines.joined(separator: "\n") + "\n"
        let path = try dir.write("records.jsonl", contents)
        let (doc, warnings) = try DocumentReader.read(path: path)
        #expect(doc.format == .jsonl)
        #expect(doc.segments.map(\.text) == ["First record.", "Escaped \"quote\" and é and 😀.", "CRLF line."])
        let first = doc.segments[0]
        #expect(first.metadata == ["id": "7", "tags": #"["a","b c"]"#, "source": "notes", "ok": "true", "none": "null",
                                   "nested": #"{"k":[1,2.50]}"#])
        // The byte range is the line; the text, written without escapes, is found verbatim in it.
        #expect(try slice(path, first.byteRange) == lines[0])
        let offset = try #require(first.textOffset)
        #expect(try slice(path, offset..<(offset + 13)) == "First record.")
        // Escaped text is not a slice of the file.
        #expect(doc.segments[1].textOffset == nil)
        #expect(try slice(path, doc.segments[1].byteRange) == lines[2])
        #expect(try slice(path, doc.segments[2].byteRange) == "{\"text\": \"CRLF line.\"}")
        #expect(warnings.count == 6)
        #expect(warnings[0] == "line 4: not a JSON object (column 1)")
        #expect(warnings[1].hasPrefix("line 5: invalid JSON: unterminated string"))
        #expect(warnings[2] == "line 6: no \"text\" field")
        #expect(warnings[3] == "line 7: field \"text\" is not a string")
        #expect(warnings[4] == "line 8: field \"text\" is empty")
        #expect(warnings[5].hasPrefix("line 10: invalid JSON: text after the object"))
    }

    @Test func jsonlCustomFieldAndNoUsableRecord() throws {
        let dir = try TempDir()
        let path = try dir.write("r.jsonl", #"{"body": "Custom field.", "text": "other"}"# + "\n")
        let doc = try DocumentReader.read(path: path, textField: "body").document
        #expect(doc.segments.map(\.text) == ["Custom field."])
        #expect(doc.segments[0].metadata == ["text": "other"])

        let bad = try dir.write("bad.jsonl", "not json\n{\"x\": 1}\n")
        let reason = try #require(skipReason(bad))
        #expect(reason.reason.contains("no usable record"))
        #expect(reason.reason.contains("line 1: not a JSON object"))
    }

    /// One line of a .jsonl file that is not UTF-8 costs that record only, with a warning naming it.
    @Test func jsonlKeepsItsGoodLinesAroundAnInvalidUTF8Line() throws {
        let dir = try TempDir()
        let bytes = Array(#"{"text": "First record."}"#.utf8) + [0x0A] + Array(#"{"text": "bad "#.utf8) + [0xFF]
            + Array(#""}"#.utf8) + [0x0A] + Array(#"{"text": "Third record."}"#.utf8) + [0x0A]
        let path = try dir.write("mixed.jsonl", bytes)
        let (doc, warnings) = try DocumentReader.read(path: path)
        #expect(doc.segments.map(\.text) == ["First record.", "Third record."])
        #expect(warnings.count == 1 && warnings[0].hasPrefix("line 2: invalid UTF-8 at byte 15 of the line (file offset 40)"), "\(warnings)")
        // Other formats still refuse invalid UTF-8 whole, naming the offset.
        let text = try dir.write("mixed.txt", bytes)
        #expect(skipReason(text)?.reason == "invalid UTF-8 at byte offset 40")
    }

    @Test func jsonlHostileInput() throws {
        let dir = try TempDir()
        // Deep nesting is refused, not recursed into.
        let deep = String(repeating: "[", count: 100_000)
        let path = try dir.write("deep.jsonl", #"{"text": "ok", "x": "# + deep + "}\n" + #"{"text": "fine"}"#)
        let (doc, warnings) = try DocumentReader.read(path: path)
        #expect(doc.segments.map(\.text) == ["fine"])
        #expect(warnings.first?.contains("nested too deeply") == true)
        // Many bad lines: warnings are capped.
        let many = try dir.write("many.jsonl", String(repeating: "bad\n", count: 500) + #"{"text": "good"}"#)
        let result = try DocumentReader.read(path: many)
        #expect(result.warnings.count == JSONLines.maxWarnings + 1)
        #expect(result.warnings.last == "… and 400 more skipped lines")
    }

    @Test(.enabled(if: PDFText.findExecutable("pdftotext") != nil, "needs poppler-utils"))
    func pdfPages() throws {
        let dir = try TempDir()
        let bytes = minimalPDF(pages: ["Hello from a tiny PDF.", "Second page text."])
        let path = try dir.write("tiny.pdf", bytes)
        let doc = try DocumentReader.read(path: path).document
        #expect(doc.format == .pdf)
        #expect(doc.segments.map(\.text) == ["Hello from a tiny PDF.", "Second page text."])
        #expect(doc.segments.map(\.metadata) == [["page": "1"], ["page": "2"]])
        #expect(doc.segments[0].byteRange == 0..<bytes.count)
    }

    @Test(.enabled(if: PDFText.findExecutable("pdftotext") != nil, "needs poppler-utils"))
    func brokenPDFs() throws {
        let dir = try TempDir()
        let corrupt = try dir.write("corrupt.pdf", "%PDF-1.4\nthis is not really a pdf\n")
        #expect(skipReason(corrupt)?.reason.hasPrefix("pdftotext could not read it") == true)
        let notPDF = try dir.write("fake.pdf", "plain text with a pdf name")
        #expect(skipReason(notPDF)?.reason == "not a PDF (no %PDF- header)")
        let blank = try dir.write("blank.pdf", minimalPDF(pages: [""]))
        #expect(skipReason(blank)?.reason.contains("no extractable text") == true)
        // A name starting with "-" is not taken for an option.
        let dash = try dir.write("-dash.pdf", minimalPDF(pages: ["Dash name."]))
        #expect(try DocumentReader.read(path: dash).document.segments.map(\.text) == ["Dash name."])
    }

    @Test func pdftotextMissing() throws {
        let dir = try TempDir()
        let path = try dir.write("tiny.pdf", minimalPDF(pages: ["x"]))
        #expect(throws: SkipReason(path: path, reason: "pdftotext not found (install poppler-utils: make setup)")) {
            _ = try DocumentReader.readFile(path: path, textField: "text", maxBytes: 1 << 20, pdftotext: "/nonexistent/pdftotext")
        }
    }

    @Test func binaryContent() throws {
        let dir = try TempDir()
        let nul = try dir.write("nul.txt", Array("text then".utf8) + [0] + Array("more".utf8))
        #expect(skipReason(nul)?.reason == "binary content (NUL byte at offset 9)")
        // A NUL past the 8 KiB sample is caught too.
        let late = try dir.write("late.txt", [UInt8](repeating: 0x61, count: 10_000) + [0])
        #expect(skipReason(late)?.reason == "binary content (NUL byte at offset 10000)")
        let controls = try dir.write("ctl.md", (0..<1000).map { UInt8(1 + $0 % 7) })
        #expect(skipReason(controls)?.reason.hasPrefix("binary content (100% control bytes") == true)
        let utf16 = try dir.write("u16.txt", [0xFF, 0xFE, 0x68, 0x00])
        #expect(skipReason(utf16)?.reason.contains("UTF-16") == true)
    }

    @Test func invalidUTF8NamesTheOffset() throws {
        let dir = try TempDir()
        let cases: [([UInt8], Int)] = [
            (Array("abcde".utf8) + [0xFF] + Array("xyz".utf8), 5),
            (Array("ok é ".utf8) + [0xC3], 6),  // truncated at the end
            ([0x61, 0xC0, 0xAF], 1),  // overlong "/"
            ([0x61, 0x62, 0xED, 0xA0, 0x80], 2),  // a surrogate
            ([0xF4, 0x90, 0x80, 0x80], 0),  // past U+10FFFF
        ]
        for (k, (bytes, offset)) in cases.enumerated() {
            let path = try dir.write("bad\(k).txt", bytes)
            #expect(skipReason(path)?.reason == "invalid UTF-8 at byte offset \(offset)")
        }
    }

    @Test func emptyAndWhitespaceOnly() throws {
        let dir = try TempDir()
        #expect(skipReason(try dir.write("empty.txt", ""))?.reason == "empty file")
        #expect(skipReason(try dir.write("blank.md", " \n\t\r\n \u{3000}\u{A0}\n"))?.reason == "only whitespace")
        #expect(skipReason(try dir.write("blank.jsonl", "\n\n  \n"))?.reason == "only whitespace")
    }

    @Test func unreadableFile() throws {
        let dir = try TempDir()
        let path = try dir.write("secret.txt", "You cannot read this.")
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: path)
        // As root (as in many CI containers) chmod 000 does not stop reading, so there is nothing to
        // assert beyond "no crash"; elsewhere the file must be skipped as unreadable.
        if FileManager.default.isReadableFile(atPath: path) {
            _ = skipReason(path)
        } else {
            #expect(skipReason(path)?.reason.hasPrefix("unreadable") == true)
        }
    }

    @Test func otherUnreadablePaths() throws {
        let dir = try TempDir()
        #expect(skipReason(dir.path + "/missing.txt")?.reason == "no such file")
        try FileManager.default.createDirectory(atPath: dir.path + "/folder.txt", withIntermediateDirectories: true)
        #expect(skipReason(dir.path + "/folder.txt")?.reason == "is a directory")
        try FileManager.default.createSymbolicLink(atPath: dir.path + "/dangling.txt", withDestinationPath: dir.path + "/gone.txt")
        #expect(skipReason(dir.path + "/dangling.txt")?.reason == "broken symbolic link")
        let big = try dir.write("big.txt", String(repeating: "a", count: 2000))
        #expect(skipReason(big, maxBytes: 1000)?.reason == "file too large (2000 bytes; the limit is 1000 bytes)")
        #expect(skipReason("/dev/null.txt")?.reason == "no such file")
        #expect(try DocumentReader.read(path: big, maxBytes: .max).document.segments.count == 1)
        #expect(skipReason(big, maxBytes: -1)?.reason.hasPrefix("file too large") == true)
    }

    @Test func pipesAreNotRead() throws {
        let dir = try TempDir()
        let path = dir.path + "/pipe.txt"
        #expect(mkfifo(path, 0o644) == 0)
        // Opening a FIFO would block until a writer comes; it is refused from its type instead.
        #expect(skipReason(path)?.reason == "not a regular file")
    }

    @Test func slowToolIsStopped() throws {
        let started = Date()
        #expect(throws: PDFText.RunError.self) {
            _ = try PDFText.run("/bin/sleep", ["30"], timeout: 0.5)
        }
        #expect(Date().timeIntervalSince(started) < 10)
    }

    @Test func unsupportedExtension() throws {
        let dir = try TempDir()
        let path = try dir.write("data.csv", "a,b\n")
        #expect(skipReason(path)?.reason == "unsupported file type (\".csv\"; supported: .txt .text .md .markdown .html .htm .jsonl .pdf)")
        let collected = DocumentReader.collect(paths: [path])
        #expect(collected.files.isEmpty)
        #expect(collected.skipped.map(\.path) == [path])
        #expect(collected.skipped.first?.reason.hasPrefix("unsupported file type") == true)
    }
}

@Suite struct CollectTests {
    @Test func walksSortedRecursiveSkippingHidden() throws {
        let dir = try TempDir()
        let root = dir.path
        for name in ["b.txt", "a.md", "Z.html", "c.csv", "README", ".hidden.txt", ".git/config.txt",
                     "sub/inner.jsonl", "sub/deeper/x.pdf", "sub/.secret/y.txt", "a-c.txt", "sub/z.text"] {
            try dir.write(name, "x")
        }
        let (files, skipped) = DocumentReader.collect(paths: [root])
        #expect(skipped.isEmpty)
        let relative = files.map { String($0.dropFirst(root.count + 1)) }
        #expect(relative == ["Z.html", "a-c.txt", "a.md", "b.txt", "sub/deeper/x.pdf", "sub/inner.jsonl", "sub/z.text"])
    }

    @Test func symlinkLoopsAndDuplicates() throws {
        let dir = try TempDir()
        let root = dir.path
        try dir.write("d/one.txt", "x")
        try FileManager.default.createSymbolicLink(atPath: root + "/d/loop", withDestinationPath: root + "/d")
        try FileManager.default.createSymbolicLink(atPath: root + "/d/up", withDestinationPath: root)
        try FileManager.default.createSymbolicLink(atPath: root + "/d/alias.txt", withDestinationPath: root + "/d/one.txt")
        try FileManager.default.createSymbolicLink(atPath: root + "/d/broken.md", withDestinationPath: root + "/nowhere.md")
        let (files, skipped) = DocumentReader.collect(paths: [root + "/d", root + "/d/one.txt", root + "/d/"])
        // alias.txt comes first in name order and is the same file as one.txt, so one.txt is not listed again.
        #expect(files == [root + "/d/alias.txt"])
        #expect(skipped == [SkipReason(path: root + "/d/broken.md", reason: "broken symbolic link")])
    }

    @Test func explicitPathsKeepTheirOrder() throws {
        let dir = try TempDir()
        let b = try dir.write("b.txt", "x")
        let a = try dir.write(".a.md", "x")  // hidden, but named explicitly
        let (files, skipped) = DocumentReader.collect(paths: [b, a, dir.path + "/missing.txt", ""])
        #expect(files == [b, a])
        #expect(skipped == [SkipReason(path: dir.path + "/missing.txt", reason: "no such file or directory"),
                            SkipReason(path: "", reason: "no such file or directory")])
    }

    @Test func unreadableDirectory() throws {
        let dir = try TempDir()
        try dir.write("locked/a.txt", "x")
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: dir.path + "/locked")
        let (files, skipped) = DocumentReader.collect(paths: [dir.path])
        if (try? FileManager.default.contentsOfDirectory(atPath: dir.path + "/locked")) != nil {
            #expect(files.count == 1)  // root reads it anyway
        } else {
            #expect(files.isEmpty)
            #expect(skipped.map(\.reason) == ["unreadable directory"])
        }
    }
}
