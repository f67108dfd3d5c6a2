using System.Globalization;
using System.Text;
using System.Text.Json;
using PiOrchestrator.Http;

namespace PiOrchestrator.Doors;

/// <summary>Turns an MQTT door payload (JSON or a bare word) into a <see cref="DoorEvent"/>, or says why not.</summary>
public static class DoorEventParser
{
    public const int MaxPayloadBytes = 4096;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public readonly record struct Result(DoorEvent? Event, string? Problem, string ProblemClass)
    {
        public bool Ok => Event is not null;
    }

    /// <summary>Extracts the container id from <c>{prefix}/{container_id}/door</c>.</summary>
    public static bool TryGetContainerId(string topic, string prefix, out string containerId)
    {
        containerId = "";
        if (!topic.StartsWith(prefix + "/", StringComparison.Ordinal) || !topic.EndsWith("/door", StringComparison.Ordinal))
            return false;
        var middle = topic.AsSpan(prefix.Length + 1, topic.Length - prefix.Length - 1 - "/door".Length);
        if (middle.Contains('/')) return false;
        containerId = middle.ToString();
        return true;
    }

    public static Result Parse(string containerId, ReadOnlySpan<byte> payload, int payloadLength, DoorEventSource source, DateTimeOffset receivedAt)
    {
        if (payloadLength > MaxPayloadBytes)
            return Fail("oversized", $"payload of {payloadLength} bytes is over the {MaxPayloadBytes}-byte limit");
        if (payload.IsEmpty)
            return Fail("empty", "empty payload");
        string text;
        try
        {
            text = StrictUtf8.GetString(payload).Trim();
        }
        catch (DecoderFallbackException)
        {
            return Fail("invalid_utf8", "payload is not valid UTF-8");
        }
        if (text.Length == 0)
            return Fail("empty", "empty payload");
        return text[0] is '{' or '[' or '"'
            ? ParseJson(containerId, text, source, receivedAt)
            : ParseWord(text) is { } kind
                ? new Result(new DoorEvent(containerId, kind, source, receivedAt), null, "")
                : Fail("unknown_event", $"unknown event word '{Printable(text)}' (expected open_requested, opened or closed)");
    }

    public static DoorEventKind? ParseWord(string word) => word.ToLowerInvariant() switch
    {
        "open_requested" => DoorEventKind.OpenRequested,
        "opened" or "open" => DoorEventKind.Opened,
        "closed" or "close" => DoorEventKind.Closed,
        _ => null,
    };

    private static Result ParseJson(string containerId, string text, DoorEventSource source, DateTimeOffset receivedAt)
    {
        try
        {
            using var doc = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 8 });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                return Fail("malformed_json", "JSON payload must be an object");
            if (!root.TryGetProperty("event", out var eventElement) || eventElement.ValueKind != JsonValueKind.String)
                return Fail("malformed_json", "JSON payload needs \"event\" as a string");
            var word = eventElement.GetString()!;
            if (ParseWord(word) is not { } kind)
                return Fail("unknown_event", $"unknown event '{Printable(word)}' (expected open_requested, opened or closed)");

            if (!TryOptionalId(root, "event_id", out var eventId, out var problem, out var problemClass)
                || !TryOptionalId(root, "session_id", out var sessionId, out problem, out problemClass))
                return Fail(problemClass, problem!);

            DateTimeOffset? timestamp = null;
            if (root.TryGetProperty("timestamp", out var ts) && ts.ValueKind != JsonValueKind.Null)
            {
                if (ts.ValueKind != JsonValueKind.String
                    || !DateTimeOffset.TryParse(ts.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
                    return Fail("malformed_json", "\"timestamp\" must be an ISO-8601 string");
                timestamp = parsed.ToUniversalTime();
            }
            return new Result(new DoorEvent(containerId, kind, source, receivedAt, eventId, sessionId, timestamp), null, "");
        }
        catch (JsonException ex)
        {
            return Fail("malformed_json", $"malformed JSON ({ex.Message.Split('.')[0]})");
        }
    }

    private static bool TryOptionalId(JsonElement root, string name, out string? value, out string? problem, out string problemClass)
    {
        value = null;
        problem = null;
        problemClass = "";
        if (!root.TryGetProperty(name, out var element) || element.ValueKind == JsonValueKind.Null) return true;
        if (element.ValueKind != JsonValueKind.String)
        {
            (problem, problemClass) = ($"\"{name}\" must be a string of {Validation.IdRule}", "malformed_json");
            return false;
        }
        var text = element.GetString()!;
        if (Validation.IdProblem(text) is { } why)
        {
            // Its own class, so that a refused id is not held back behind unrelated malformed payloads in the log.
            (problem, problemClass) = ($"\"{name}\" '{Printable(text)}' is refused: it {why}", "invalid_id");
            return false;
        }
        value = text;
        return true;
    }

    private static Result Fail(string problemClass, string problem) => new(null, problem, problemClass);

    /// <summary>A short, single-line, printable excerpt so a hostile payload cannot forge log lines.</summary>
    public static string Printable(string text)
    {
        var excerpt = text.Length > 40 ? text[..40] + "…" : text;
        var sb = new StringBuilder(excerpt.Length);
        foreach (var ch in excerpt) sb.Append(char.IsControl(ch) ? '?' : ch);
        return sb.ToString();
    }
}
