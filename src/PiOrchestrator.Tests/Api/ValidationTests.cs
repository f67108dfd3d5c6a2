using PiOrchestrator.Api;

namespace PiOrchestrator.Tests.Api;

public class ValidationTests
{
    [Theory]
    [InlineData("sess-abc123")]
    [InlineData("a")]
    [InlineData("A.b_C-9")]
    public void Good_ids_pass(string id) => Assert.True(Validation.IsValidId(id));

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("a b")]
    [InlineData("a%2Fb")]
    [InlineData("sess\n1")]
    [InlineData("sess\u0000")]
    [InlineData("séance")]
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

    [Fact]
    public void Keys_over_512_characters_fail() => Assert.False(Validation.IsValidKey(new string('k', 513)));
}
