using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using PiOrchestrator.Evidence;
using PiOrchestrator.Http;
using PiOrchestrator.Store;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Api;

/// <summary>
/// A session's evidence list a page at a time (seed 000's capture_tag/limit/cursor) when it holds many captures: every
/// row exactly once, in the hash chain's order, while an ordinary session still answers as the dashboard contract shows.
/// </summary>
public class EvidencePagingTests : AgentWithCameraTests
{
    private int _seed;

    /// <summary>A capture stored as the agent stores its own (row and bytes in one transaction, signed, chained by order).</summary>
    private EvidenceRecord Add(string sessionId, CaptureTag tag, DateTimeOffset at, bool failed = false, byte[]? bytes = null)
    {
        // Random ids: UUIDv7s made in one millisecond share the 8 hex digits an object key takes, and order ties at random.
        var id = Guid.NewGuid();
        if (failed)
            return App.Store.SaveEvidence(new EvidenceRecord
            {
                EvidenceId = id, SessionId = sessionId, ContainerId = "ctr-001", DeviceId = "espcam-a1b2c3", Tag = tag, Status = CaptureStatus.Failed,
                FailureReason = "timeout", CapturedAt = at, CreatedAt = at, UploadStatus = UploadStatus.None,
            }, []);
        var jpeg = bytes ?? TestJpegs.Make(++_seed, 64, 48);
        return App.Store.SaveEvidence(new EvidenceRecord
        {
            EvidenceId = id, SessionId = sessionId, ContainerId = "ctr-001", DeviceId = "espcam-a1b2c3", Tag = tag, Status = CaptureStatus.Captured,
            CapturedAt = at, CreatedAt = at, Sha256 = Convert.ToHexStringLower(SHA256.HashData(jpeg)), ImageSizeBytes = jpeg.Length,
            ObjectKey = EvidenceRecord.ObjectKeyFor("ctr-001", sessionId, tag, at, id), BytesHeld = true,
        }, jpeg);
    }

    /// <summary>A door cycle, then <paramref name="extra"/> more captures between its photos, three to a millisecond, every tenth failed.</summary>
    private async Task<string> LongSessionAsync(int extra)
    {
        var sessionId = await App.DoorCycleAsync();
        var before = App.Store.GetEvidenceForSession(sessionId)[0];
        for (var i = 0; i < extra; i++) Add(sessionId, CaptureTag.Manual, before.CapturedAt.AddMilliseconds(1 + i / 3), failed: i % 10 == 9);
        return sessionId;
    }

    /// <summary>The order the hash chain takes the rows in (<see cref="HashChain.Head"/>).</summary>
    private List<Guid> ChainOrder(string sessionId, CaptureTag? tag = null) =>
        [.. App.Store.GetEvidenceForSession(sessionId).Where(e => tag is null || e.Tag == tag).OrderBy(e => e.CapturedAt).ThenBy(e => e.EvidenceId).Select(e => e.EvidenceId)];

    private async Task<JsonElement> PageAsync(string url, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await Http.GetAsync(url);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{url}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("data");
    }

    /// <summary>Follows next_cursor from the first page to the last; the ids in the order received, and each page's size.</summary>
    private async Task<(List<Guid> Ids, List<int> Pages)> AllPagesAsync(string sessionId, string query, Action? afterFirstPage = null)
    {
        var ids = new List<Guid>();
        var pages = new List<int>();
        string? cursor = null;
        do
        {
            var url = $"/api/v1/sessions/{sessionId}/evidence?include_image=false{query}" + (cursor is null ? "" : "&cursor=" + Uri.EscapeDataString(cursor));
            var data = await PageAsync(url);
            var captures = data.GetProperty("captures").EnumerateArray().ToList();
            ids.AddRange(captures.Select(c => Guid.Parse(c.GetProperty("evidence_id").GetString()!)));
            pages.Add(captures.Count);
            var hasMore = data.GetProperty("has_more").GetBoolean();
            cursor = data.GetProperty("next_cursor").GetString();
            Assert.Equal(hasMore, cursor is not null);
            if (pages.Count == 1) afterFirstPage?.Invoke();
        } while (cursor is not null && pages.Count < 200);
        return (ids, pages);
    }

    [Fact]
    public async Task A_long_session_pages_through_every_capture_exactly_once_in_chain_order()
    {
        var sessionId = await LongSessionAsync(70);
        var expected = ChainOrder(sessionId);
        Assert.Equal(72, expected.Count);
        // The store's order is the chain's, ties in one millisecond included.
        Assert.Equal(expected, App.Store.GetEvidenceForSession(sessionId).Select(e => e.EvidenceId));

        var (byDefault, defaultPages) = await AllPagesAsync(sessionId, "");
        Assert.Equal(expected, byDefault);
        Assert.Equal([25, 25, 22], defaultPages);

        var (bySeven, sevenPages) = await AllPagesAsync(sessionId, "&limit=7");
        Assert.Equal(expected, bySeven);
        Assert.Equal(11, sevenPages.Count);

        var whole = await PageAsync($"/api/v1/sessions/{sessionId}/evidence?include_image=false&limit=100");
        Assert.Equal(72, whole.GetProperty("captures").GetArrayLength());
        Assert.False(whole.GetProperty("has_more").GetBoolean());
        Assert.Equal(JsonValueKind.Null, whole.GetProperty("next_cursor").ValueKind);

        // The summary counts the whole session on every page and under every filter.
        foreach (var query in new[] { "", "&limit=1", "&capture_tag=AFTER_CLOSE" })
        {
            var summary = (await PageAsync($"/api/v1/sessions/{sessionId}/evidence?include_image=false{query}")).GetProperty("summary");
            Assert.Equal((72, 65, 7, true), (summary.GetProperty("total_captures").GetInt32(), summary.GetProperty("successful_captures").GetInt32(),
                summary.GetProperty("failed_captures").GetInt32(), summary.GetProperty("pair_complete").GetBoolean()));
        }
    }

    [Fact]
    public async Task A_capture_stored_while_a_client_pages_appears_once_at_its_place()
    {
        var sessionId = await LongSessionAsync(40);
        var latest = App.Store.GetEvidenceForSession(sessionId).Max(e => e.CapturedAt);
        EvidenceRecord? added = null;
        var (ids, _) = await AllPagesAsync(sessionId, "&limit=10", () => added = Add(sessionId, CaptureTag.Manual, latest.AddSeconds(1)));
        Assert.Equal(ChainOrder(sessionId), ids);
        Assert.Equal(added!.EvidenceId, ids[^1]);
        Assert.Equal(43, ids.Count);
    }

    [Fact]
    public async Task Capture_tag_filters_by_each_existing_tag_and_pages_within_it()
    {
        var sessionId = await LongSessionAsync(30);
        foreach (var tag in Enum.GetValues<CaptureTag>())
        {
            var (ids, _) = await AllPagesAsync(sessionId, $"&capture_tag={EvidenceNames.Of(tag)}&limit=4");
            Assert.Equal(ChainOrder(sessionId, tag), ids);
        }
        var (manual, pages) = await AllPagesAsync(sessionId, "&capture_tag=MANUAL&limit=4");
        Assert.Equal(30, manual.Count);
        Assert.Equal(8, pages.Count);
        var before = (await PageAsync($"/api/v1/sessions/{sessionId}/evidence?capture_tag=BEFORE_OPEN")).GetProperty("captures");
        Assert.Equal(["BEFORE_OPEN"], before.EnumerateArray().Select(c => c.GetProperty("capture_tag").GetString()));
    }

    [Fact]
    public async Task An_ordinary_session_without_paging_parameters_answers_as_before()
    {
        var sessionId = await App.DoorCycleAsync();
        using var response = await Http.GetAsync($"/api/v1/sessions/{sessionId}/evidence");
        var data = (await AgentApplication.Json(response)).GetProperty("data");
        Assert.Equal(["BEFORE_OPEN", "AFTER_CLOSE"], data.GetProperty("captures").EnumerateArray().Select(c => c.GetProperty("capture_tag").GetString()));
        Assert.All(data.GetProperty("captures").EnumerateArray(), c => Assert.True(c.TryGetProperty("image_data", out _)));
        Assert.False(data.GetProperty("has_more").GetBoolean());
        Assert.Equal(JsonValueKind.Null, data.GetProperty("next_cursor").ValueKind);
        // The ETag pollers already hold stays valid.
        Assert.Equal($"W/\"{App.Store.GetRevision(sessionId)}i\"", response.Headers.ETag!.ToString());
    }

    [Fact]
    public async Task Each_page_has_its_own_etag_and_answers_304_until_the_session_changes()
    {
        var sessionId = await LongSessionAsync(10);
        using var first = await Http.GetAsync($"/api/v1/sessions/{sessionId}/evidence?limit=5&include_image=false");
        var cursor = (await AgentApplication.Json(first)).GetProperty("data").GetProperty("next_cursor").GetString()!;
        var secondUrl = $"/api/v1/sessions/{sessionId}/evidence?limit=5&include_image=false&cursor={Uri.EscapeDataString(cursor)}";
        using var second = await Http.GetAsync(secondUrl);
        Assert.NotEqual(first.Headers.ETag, second.Headers.ETag);

        async Task<HttpStatusCode> Revalidate()
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, secondUrl);
            request.Headers.IfNoneMatch.Add(second.Headers.ETag!);
            using var response = await Http.SendAsync(request);
            return response.StatusCode;
        }
        Assert.Equal(HttpStatusCode.NotModified, await Revalidate());
        Add(sessionId, CaptureTag.Manual, DateTimeOffset.UtcNow);
        Assert.Equal(HttpStatusCode.OK, await Revalidate());
    }

    [Fact]
    public async Task Bad_paging_parameters_are_a_400_naming_them_and_a_forged_cursor_is_never_more_than_a_position()
    {
        var sessionId = await LongSessionAsync(5);
        var other = await App.DoorCycleAsync();
        var otherCursor = (await PageAsync($"/api/v1/sessions/{other}/evidence?limit=1")).GetProperty("next_cursor").GetString()!;
        var manualCursor = (await PageAsync($"/api/v1/sessions/{sessionId}/evidence?limit=1&capture_tag=MANUAL")).GetProperty("next_cursor").GetString()!;
        var ownCursor = (await PageAsync($"/api/v1/sessions/{sessionId}/evidence?limit=1")).GetProperty("next_cursor").GetString()!;
        var sessionsCursor = (await PageAsync("/api/v1/sessions?limit=1")).GetProperty("next_cursor").GetString()!;
        var someId = Guid.CreateVersion7().ToString("D");
        foreach (var (query, field) in new[]
                 {
                     ("capture_tag=SNAPSHOT", "capture_tag"), ("capture_tag=before_open", "capture_tag"), ("capture_tag=", "capture_tag"),
                     ("capture_tag=BEFORE_OPEN,AFTER_CLOSE", "capture_tag"), ("capture_tag=BEFORE_OPEN&capture_tag=AFTER_CLOSE", "capture_tag"),
                     ("capture_tag=" + new string('X', 3000), "capture_tag"), ("capture_tag=%00", "capture_tag"),
                     ("limit=0", "limit"), ("limit=101", "limit"), ("limit=-1", "limit"), ("limit=ten", "limit"), ("limit=", "limit"),
                     ("limit=%205", "limit"), ("limit=%2B5", "limit"), ("limit=1e2", "limit"), ("limit=99999999999", "limit"), ("limit=5&limit=6", "limit"),
                     ("cursor=", "cursor"), ("cursor=!!!", "cursor"), ("cursor=" + new string('A', 3000), "cursor"), ("cursor=eyJ9", "cursor"),
                     ("cursor=" + Uri.EscapeDataString(otherCursor), "cursor"),
                     ("cursor=" + Uri.EscapeDataString(manualCursor), "cursor"),
                     ("capture_tag=AFTER_CLOSE&cursor=" + Uri.EscapeDataString(manualCursor), "cursor"),
                     ("cursor=" + Uri.EscapeDataString(ownCursor) + "%3D%3D", "cursor"),
                     ("cursor=" + Uri.EscapeDataString(sessionsCursor), "cursor"),
                     ("cursor=" + AuditApi.EncodeCursor(5), "cursor"),
                     ("cursor=" + PageCursor.Encode("evidence", sessionId, "any", "12abc", someId), "cursor"),
                     ("cursor=" + PageCursor.Encode("evidence", sessionId, "any", "0012", someId), "cursor"),
                     ("cursor=" + PageCursor.Encode("evidence", sessionId, "any", "1", someId.ToUpperInvariant()), "cursor"),
                     ("cursor=" + PageCursor.Encode("evidence", sessionId, "ANY'--", "1", someId), "cursor"),
                     ("cursor=" + PageCursor.Encode("evidence", "x' OR 1=1 --", "any", "1", someId), "cursor"),
                     ("cursor=" + PageCursor.Encode("evidence", sessionId, "any", "1", someId, "extra"), "cursor"),
                 })
        {
            using var bad = await Http.GetAsync($"/api/v1/sessions/{sessionId}/evidence?{query}");
            var body = await bad.Content.ReadAsStringAsync();
            Assert.True(bad.StatusCode == HttpStatusCode.BadRequest, $"{query[..Math.Min(80, query.Length)]}: {(int)bad.StatusCode} {body}");
            var error = JsonDocument.Parse(body).RootElement.GetProperty("error");
            Assert.Equal(("invalid_request", field), (error.GetProperty("code").GetString(), error.GetProperty("field").GetString()));
        }

        // A well-formed cursor made by hand is a place in this session's list and no more: the rows after it.
        var all = ChainOrder(sessionId);
        var forgedStart = PageCursor.Encode("evidence", sessionId, "any", "0", Guid.Empty.ToString("D"));
        var fromStart = await PageAsync($"/api/v1/sessions/{sessionId}/evidence?include_image=false&limit=100&cursor={forgedStart}");
        Assert.Equal(all, fromStart.GetProperty("captures").EnumerateArray().Select(c => Guid.Parse(c.GetProperty("evidence_id").GetString()!)));
        var forgedEnd = PageCursor.Encode("evidence", sessionId, "any", long.MaxValue.ToString(), Guid.Empty.ToString("D"));
        Assert.Equal(0, (await PageAsync($"/api/v1/sessions/{sessionId}/evidence?cursor={forgedEnd}")).GetProperty("captures").GetArrayLength());
    }

    [Fact]
    public async Task A_page_carries_image_data_up_to_its_byte_budget_and_object_keys_beyond()
    {
        var sessionId = await App.DoorCycleAsync();
        var start = App.Store.GetEvidenceForSession(sessionId)[^1].CapturedAt;
        const int size = 3 * 1024 * 1024;
        for (var i = 0; i < 5; i++)
        {
            var bytes = new byte[size];
            new Random(i).NextBytes(bytes);
            Add(sessionId, CaptureTag.Manual, start.AddSeconds(1 + i), bytes: bytes);
        }
        var captures = (await PageAsync($"/api/v1/sessions/{sessionId}/evidence?capture_tag=MANUAL")).GetProperty("captures").EnumerateArray().ToList();
        Assert.Equal(5, captures.Count);
        var withImage = captures.Count(c => c.TryGetProperty("image_data", out _));
        Assert.Equal((int)(EvidenceViews.MaxImageBytesPerPage / size), withImage);
        Assert.All(captures.Skip(withImage), c => Assert.False(c.TryGetProperty("image_data", out _)));
        Assert.All(captures, c => Assert.StartsWith($"evidence/ctr-001/{sessionId}/MANUAL_", c.GetProperty("object_key").GetString()));
    }

    [Fact]
    public async Task The_document_describes_the_paging_parameters_and_fields()
    {
        var doc = await Http.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        var parameters = doc.GetProperty("paths").GetProperty("/api/v1/sessions/{sessionId}/evidence").GetProperty("get").GetProperty("parameters")
            .EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);
        foreach (var name in new[] { "capture_tag", "limit", "cursor", "include_image" })
        {
            Assert.True(parameters.TryGetValue(name, out var parameter), $"no {name} parameter");
            Assert.Equal("query", parameter.GetProperty("in").GetString());
            Assert.False(string.IsNullOrEmpty(parameter.GetProperty("description").GetString()));
        }
        Assert.Equal(EvidenceListQuery.TagNames, parameters["capture_tag"].GetProperty("schema").GetProperty("enum").EnumerateArray().Select(v => v.GetString()));
        var list = doc.GetProperty("components").GetProperty("schemas").GetProperty("SessionEvidenceDto");
        var required = list.GetProperty("required").EnumerateArray().Select(r => r.GetString()).ToList();
        Assert.Contains("has_more", required);
        Assert.Contains("next_cursor", required);
    }
}
