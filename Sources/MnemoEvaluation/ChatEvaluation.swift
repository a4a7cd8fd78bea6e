import Foundation
import MnemoCore
import MnemoModels
import MnemoStore

/// One turn of a scripted dialogue (`Examples/chat-bench/make_dialogue.py`): facts are planted, small talk
/// fills the middle, and probes ask about the facts 50+ turns later.
public struct DialogueTurn: Sendable, Codable {
    public var session: Int
    public var turn: Int
    /// `plant`, `filler` or `probe`.
    public var kind: String
    public var user: String
    /// The scripted answer (stored as the assistant's turn for plants and filler; a reference for probes).
    public var assistant: String
    public var fact: String?
    /// A probe's accepted answers (case-insensitive substrings).
    public var answers: [String]?

    /// Reads a JSON Lines dialogue, naming the line at fault.
    public static func load(_ path: String) throws -> [DialogueTurn] {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw StoreError(.notFound, "\(path): cannot read the dialogue (missing, unreadable or not UTF-8)")
        }
        var turns: [DialogueTurn] = []
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
        where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            do { turns.append(try JSONDecoder().decode(DialogueTurn.self, from: Data(line.utf8))) } catch {
                throw StoreError(.badInput, "\(path):\(i + 1): not a dialogue turn (\(error))")
            }
            if turns.last?.kind == "probe", (turns.last?.answers ?? []).isEmpty {
                throw StoreError(.badInput, "\(path):\(i + 1): a probe needs \"answers\"")
            }
        }
        guard turns.contains(where: { $0.kind == "probe" }) else { throw StoreError(.badInput, "\(path): no probe turns to score") }
        return turns
    }
}

/// One probe's outcome.
public struct ProbeOutcome: Sendable, Codable {
    public var turn: Int
    public var fact: String
    public var answer: String
    public var correct: Bool
    /// Where the turn that planted the fact was in the prompt: `raw`, `recalled`, `soft` or `absent`.
    public var plantedAs: String
    public var promptTokens: Int

    enum CodingKeys: String, CodingKey {
        case turn, fact, answer, correct
        case plantedAs = "planted_as", promptTokens = "prompt_tokens"
    }
}

/// The figures of one history strategy over a dialogue.
public struct ChatEvaluationReport: Sendable, Codable {
    public var strategy: String
    public var budget: Int
    public var turns: Int
    public var probes: Int
    public var correct: Int
    public var accuracy: Double
    /// Probes whose planted fact was in the prompt as text (raw or recalled).
    public var factInTextPrompt: Int
    /// Mean and largest prompt positions over every turn of the dialogue.
    public var meanPromptTokens: Double
    public var maxPromptTokens: Int
    /// What the whole history would take raw at the last turn.
    public var rawHistoryTokens: Int
    public var meanSoftTokens: Double
    public var seconds: Double
    public var outcomes: [ProbeOutcome]

    enum CodingKeys: String, CodingKey {
        case strategy, budget, turns, probes, correct, accuracy, outcomes, seconds
        case factInTextPrompt = "fact_in_text_prompt", meanPromptTokens = "mean_prompt_tokens", maxPromptTokens = "max_prompt_tokens"
        case rawHistoryTokens = "raw_history_tokens", meanSoftTokens = "mean_soft_tokens"
    }
}

/// Replays a scripted dialogue through a fresh chat session: plants and filler are stored with their
/// scripted answers (no generation), each probe is answered by the model and scored. Every turn's prompt
/// is planned, so prompt tokens per turn cover the whole dialogue.
public enum ChatEvaluation {
    public static func run(_ dialogue: [DialogueTurn], session chat: ChatSession,
                           progress: (Int) -> Void = { _ in }) throws -> ChatEvaluationReport {
        let start = Date()
        var plantTurn: [String: Int] = [:]
        var outcomes: [ProbeOutcome] = []
        var promptTokens: [Int] = []
        var softTokens: [Int] = []
        for (i, turn) in dialogue.enumerated() {
            if turn.kind == "probe" {
                let reply = try chat.send(turn.user)
                let plan = chat.lastPlan
                promptTokens.append(plan?.tokens ?? reply.promptTokens)
                softTokens.append(reply.softTokens)
                let planted = turn.fact.flatMap { plantTurn[$0] }
                let where_: String
                if let p = planted, let plan {
                    where_ = plan.rawTurns.contains(p) ? "raw" : plan.recalled.contains(where: { $0.turn == p }) ? "recalled"
                        : plan.softTurns.contains(p) ? "soft" : "absent"
                } else { where_ = "absent" }
                outcomes.append(ProbeOutcome(turn: turn.turn, fact: turn.fact ?? "", answer: reply.answer,
                                             correct: matches(reply.answer, turn.answers ?? []), plantedAs: where_,
                                             promptTokens: plan?.tokens ?? reply.promptTokens))
            } else {
                let plan = try chat.plan(for: turn.user)
                promptTokens.append(plan.tokens)
                softTokens.append(plan.softTokens)
                let number = try chat.remember(user: turn.user, assistant: turn.assistant)
                if turn.kind == "plant", let fact = turn.fact { plantTurn[fact] = number }
            }
            progress(i + 1)
        }
        let correct = outcomes.filter(\.correct).count
        return ChatEvaluationReport(
            strategy: chat.options.context.strategy.rawValue, budget: chat.options.context.budget, turns: dialogue.count,
            probes: outcomes.count, correct: correct, accuracy: outcomes.isEmpty ? 0 : Double(correct) / Double(outcomes.count),
            factInTextPrompt: outcomes.filter { $0.plantedAs == "raw" || $0.plantedAs == "recalled" }.count,
            meanPromptTokens: promptTokens.isEmpty ? 0 : Double(promptTokens.reduce(0, +)) / Double(promptTokens.count),
            maxPromptTokens: promptTokens.max() ?? 0, rawHistoryTokens: chat.rawHistoryTokens(),
            meanSoftTokens: softTokens.isEmpty ? 0 : Double(softTokens.reduce(0, +)) / Double(softTokens.count),
            seconds: Date().timeIntervalSince(start), outcomes: outcomes)
    }

    /// An answer is right when it contains one of the accepted answers, ignoring case and the separators
    /// inside numbers and codes ("4 127", "AB-12" for "AB12").
    static func matches(_ answer: String, _ accepted: [String]) -> Bool {
        func squeeze(_ s: String) -> String { String(s.lowercased().filter { $0.isLetter || $0.isNumber }) }
        let plain = answer.lowercased(), squeezed = squeeze(answer)
        return accepted.contains { a in
            plain.contains(a.lowercased()) || (!squeeze(a).isEmpty && squeezed.contains(squeeze(a)))
        }
    }
}
