using PiOrchestrator.Http;

namespace PiOrchestrator.Tests.Api;

public class ValidationTests
{
    [Theory]
    [InlineData("sess-abc123")]
    [InlineData("a")]
    [InlineData("A.b_C-9")]
    [InlineData("a..b")]
    [InlineData("-")]
    public void Good_ids_pass(string id) => Assert.True(Validation.IsValidId(id));

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("a b")]
    [InlineData("a%2Fb")]
    [InlineData("sess\n1")]
    [InlineData("sess\u0000")]
    [InlineData("séance")]
    [InlineData(".")]
    [InlineData("..")]
    [InlineData("...")]
    [InlineData(".hidden")]
    [InlineData("sess.")]
    public void Bad_ids_fail(string id) => Assert.False(Validation.IsValidId(id));

    [Fact]
    public void Ids_over_128_characters_fail()
    {
        Assert.True(Validation.IsValidId(new string('a', 128)));
        Assert.False(Validation.IsValidId(new string('a', 129)));
    }

    [Theory]
    [InlineData("evidence/ctr-001/sess-abc123/BEFORE_OPEN_20260220T100005_01234567.jpg")]
    [InlineData("evidence/x:y/z.jpg")]
    public void Good_keys_pass(string key) => Assert.True(Validation.IsValidKey(key));

    [Theory]
    [InlineData("../etc/passwd")]
    [InlineData("evidence/../../etc/passwd")]
    [InlineData("/etc/passwd")]
    [InlineData("evidence//x.jpg")]
    [InlineData("evidence/x.jpg?y")]
    [InlineData("evidence\\x.jpg")]
    [InlineData("evidence/%2e%2e/x")]
    [InlineData("")]
    public void Hostile_keys_fail(string key) => Assert.False(Validation.IsValidKey(key));

    [Theory]
    [InlineData(".", "'.' and '..' are path segments")]
    [InlineData("..", "'.' and '..' are path segments")]
    [InlineData("a/b", "[A-Za-z0-9._-]")]
    public void The_id_problem_says_why(string id, string expected) => Assert.Contains(expected, Validation.IdProblem(id));

    [Theory]
    [InlineData("evidence/ctr-001/sess-1/BEFORE_OPEN_20260220T100005_01234567.jpg", true)]
    [InlineData("evidence/ctr-001/a..b/x.jpg", true)]
    [InlineData("evidence/ctr-001/../x.jpg", false)]
    [InlineData("evidence/ctr-001/./x.jpg", false)]
    [InlineData("evidence/ctr-001/..", false)]
    [InlineData("evidence//x.jpg", false)]
    [InlineData("/evidence/x.jpg", false)]
    [InlineData("evidence/x/", false)]
    [InlineData("evidence/x y.jpg", false)]
    [InlineData("", false)]
    public void Canonical_keys_are_those_S3_stores_unchanged(string key, bool canonical) => Assert.Equal(canonical, Validation.IsCanonicalKey(key));

    [Fact]
    public void Every_key_built_from_valid_ids_is_canonical()
    {
        var random = new Random(5);
        const string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
        var tried = 0;
        while (tried < 2000)
        {
            var container = new string([.. Enumerable.Range(0, random.Next(1, 6)).Select(_ => chars[random.Next(chars.Length)])]);
            var session = new string([.. Enumerable.Range(0, random.Next(1, 6)).Select(_ => chars[random.Next(chars.Length)])]);
            if (!Validation.IsValidId(container) || !Validation.IsValidId(session)) continue;
            tried++;
            var key = PiOrchestrator.Store.EvidenceRecord.ObjectKeyFor(container, session, PiOrchestrator.Store.CaptureTag.BeforeOpen, DateTimeOffset.UnixEpoch, Guid.CreateVersion7());
            Assert.True(Validation.IsCanonicalKey(key), key);
            // Round trip: what URL dot-segment removal would make of the key is the key.
            Assert.Equal(key, new Uri("http://s3.local/bucket/" + key).AbsolutePath["/bucket/".Length..]);
        }
    }

    [Theory]
    [InlineData("/api/v1/sessions/%2E%2E/evidence", true)]
    [InlineData("/api/v1/sessions/%2e/export", true)]
    [InlineData("/api/v1/sessions/../x", true)]
    [InlineData("/api/v1/sessions/..?x=1", true)]
    [InlineData("/api/v1/sessions/a..b/evidence", false)]
    [InlineData("/api/v1/evidence/image?key=evidence/../x", false)]
    [InlineData("/api/v1/status", false)]
    [InlineData("/", false)]
    public void Request_paths_with_dot_segments_are_refused(string target, bool refused) =>
        Assert.Equal(refused, Validation.PathProblem(target) is not null);

    [Fact]
    public void Keys_over_512_characters_fail() => Assert.False(Validation.IsValidKey(new string('k', 513)));
}
