using System.Text;
using PiOrchestrator.Doors;

namespace PiOrchestrator.Tests.Doors;

public class DoorEventParserTests
{
    private static DoorEventParser.Result Parse(string payload) => Parse(Encoding.UTF8.GetBytes(payload));

    private static DoorEventParser.Result Parse(byte[] payload) =>
        DoorEventParser.Parse("ctr-001", payload, payload.Length, DoorEventSource.Mqtt, DateTimeOffset.UnixEpoch);

    [Theory]
    [InlineData("open_requested", DoorEventKind.OpenRequested)]
    [InlineData("opened", DoorEventKind.Opened)]
    [InlineData("open", DoorEventKind.Opened)]
    [InlineData("OPENED", DoorEventKind.Opened)]
    [InlineData("closed", DoorEventKind.Closed)]
    [InlineData(" close\n", DoorEventKind.Closed)]
    public void Bare_words_are_door_events(string payload, DoorEventKind kind)
    {
        var result = Parse(payload);
        Assert.True(result.Ok, result.Problem);
        Assert.Equal(kind, result.Event!.Kind);
        Assert.Equal("ctr-001", result.Event.ContainerId);
        Assert.Null(result.Event.EventId);
    }

    [Fact]
    public void Json_payload_carries_event_id_session_id_and_timestamp()
    {
        var result = Parse("""{"event":"opened","event_id":"ev-42","session_id":"sess-abc123","timestamp":"2026-02-20T10:00:05Z"}""");
        Assert.True(result.Ok, result.Problem);
        Assert.Equal(DoorEventKind.Opened, result.Event!.Kind);
        Assert.Equal("ev-42", result.Event.EventId);
        Assert.Equal("sess-abc123", result.Event.SessionId);
        Assert.Equal(new DateTimeOffset(2026, 2, 20, 10, 0, 5, TimeSpan.Zero), result.Event.Timestamp);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   ", "empty")]
    [InlineData("{", "malformed_json")]
    [InlineData("[\"opened\"]", "malformed_json")]
    [InlineData("{\"event\":5}", "malformed_json")]
    [InlineData("{\"state\":\"opened\"}", "malformed_json")]
    [InlineData("{\"event\":\"opened\",\"event_id\":12}", "malformed_json")]
    [InlineData("{\"event\":\"opened\",\"session_id\":\"../../etc\"}", "invalid_id")]
    [InlineData("{\"event\":\"opened\",\"session_id\":7}", "malformed_json")]
    [InlineData("{\"event\":\"opened\",\"timestamp\":\"yesterday\"}", "malformed_json")]
    [InlineData("{\"event\":\"exploded\"}", "unknown_event")]
    [InlineData("exploded", "unknown_event")]
    public void Bad_payloads_are_refused_with_their_class(string payload, string problemClass)
    {
        var result = Parse(payload);
        Assert.False(result.Ok);
        Assert.Equal(problemClass, result.ProblemClass);
        Assert.False(string.IsNullOrWhiteSpace(result.Problem));
    }

    [Theory]
    [InlineData("session_id", "..")]
    [InlineData("session_id", ".")]
    [InlineData("session_id", "sess.")]
    [InlineData("event_id", "..")]
    public void Dot_ids_are_refused_saying_why(string field, string id)
    {
        var result = Parse($$"""{"event":"opened","{{field}}":"{{id}}"}""");
        Assert.False(result.Ok);
        Assert.Equal("invalid_id", result.ProblemClass);
        Assert.Contains($"\"{field}\" '{id}' is refused", result.Problem);
        Assert.Contains("must not begin or end with '.'", result.Problem);
    }

    [Fact]
    public void Invalid_utf8_is_refused()
    {
        var result = Parse([0x6f, 0x70, 0xff, 0xfe, 0x65, 0x6e]);
        Assert.Equal("invalid_utf8", result.ProblemClass);
    }

    [Fact]
    public void Payload_over_4_KB_is_refused_by_its_length_alone()
    {
        var result = DoorEventParser.Parse("ctr-001", [], DoorEventParser.MaxPayloadBytes + 1, DoorEventSource.Mqtt, DateTimeOffset.UnixEpoch);
        Assert.Equal("oversized", result.ProblemClass);
    }

    [Fact]
    public void Problem_text_cannot_forge_log_lines()
    {
        var result = Parse("bogus\r\nFAKE LOG LINE: admin logged in");
        Assert.DoesNotContain('\n', result.Problem!);
        Assert.DoesNotContain('\r', result.Problem!);
    }

    [Theory]
    [InlineData("containers/ctr-001/door", "ctr-001")]
    [InlineData("containers/a.b_c-9/door", "a.b_c-9")]
    public void Container_id_comes_from_the_topic(string topic, string expected)
    {
        Assert.True(DoorEventParser.TryGetContainerId(topic, "containers", out var id));
        Assert.Equal(expected, id);
    }

    [Theory]
    [InlineData("containers/ctr-001/evidence")]
    [InlineData("containers/a/b/door")]
    [InlineData("other/ctr-001/door")]
    public void Other_topics_are_not_door_topics(string topic) =>
        Assert.False(DoorEventParser.TryGetContainerId(topic, "containers", out _));
}
