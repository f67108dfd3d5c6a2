using System.Text.Json;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.EndToEnd;

/// <summary>
/// The device key across restarts of the agent as a process: a lost or corrupt key stops it with one configuration
/// line (exit 78, which systemd does not restart), a rotation happens only when asked for, and evidence signed with
/// the old key still verifies on the Pi and with the export's own openssl commands.
/// </summary>
[Trait("Agent", "Process")]
public class DeviceKeyProcessTests
{
    [Fact]
    public async Task A_lost_or_corrupt_key_stops_the_agent_and_only_an_asked_for_rotation_makes_a_new_one_that_leaves_old_evidence_verifiable()
    {
        using var data = new TempDirectory();
        await using var broker = await MosquittoBroker.StartAsync();
        await using var camera = await FakeCamera.StartAsync();
        var environment = AgentProcess.OneContainerEnvironment(data.Path, broker, camera, clientIdPrefix: "piorch-devkey");
        environment["PIORCH_Capture__AfterCloseDelayMs"] = "50";
        var keyFile = Path.Combine(data.Path, "device-key.pem");

        string oldKeyId, oldSession;
        await using (var first = AgentProcess.Start(environment))
        {
            await first.WaitReadyAsync();
            await first.WaitForOutputAsync("MQTT connected");
            oldKeyId = (await first.GetDataAsync("/api/v1/device")).GetProperty("key_id").GetString()!;
            oldSession = await DoorCycleAsync(first, broker, []);
            Assert.Equal(0, await first.StopAsync());
        }

        // A key file that is not a key: one line naming it, exit 78 (not an unhandled exception, exit 134).
        var original = await File.ReadAllBytesAsync(keyFile);
        await File.WriteAllTextAsync(keyFile, "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n");
        await AssertStopsWithOneLineAsync(environment, keyFile, "not a PEM EC private key");

        // The key file gone while captures signed with it exist: no new key without being asked.
        File.Delete(keyFile);
        var line = await AssertStopsWithOneLineAsync(environment, keyFile, "Evidence:RotateDeviceKey=true");
        Assert.Contains(oldKeyId, line);
        Assert.False(File.Exists(keyFile), "no key may be made while the old one's captures exist");

        // Asked for: a new key; the old one stays on record and its captures still verify.
        environment["PIORCH_Evidence__RotateDeviceKey"] = "true";
        await using var rotated = AgentProcess.Start(environment);
        await rotated.WaitReadyAsync();
        await rotated.WaitForOutputAsync("MQTT connected");
        var device = await rotated.GetDataAsync("/api/v1/device");
        var newKeyId = device.GetProperty("key_id").GetString()!;
        Assert.NotEqual(oldKeyId, newKeyId);
        Assert.NotEqual(original, await File.ReadAllBytesAsync(keyFile));
        var keys = device.GetProperty("keys").EnumerateArray().ToDictionary(k => k.GetProperty("key_id").GetString()!);
        Assert.Equal([oldKeyId, newKeyId], device.GetProperty("keys").EnumerateArray().Select(k => k.GetProperty("key_id").GetString()!));
        Assert.Equal(JsonValueKind.String, keys[oldKeyId].GetProperty("valid_to").ValueKind);
        Assert.Equal(JsonValueKind.Null, keys[newKeyId].GetProperty("valid_to").ValueKind);
        Assert.StartsWith("-----BEGIN PUBLIC KEY-----", keys[oldKeyId].GetProperty("public_key_pem").GetString());

        var newSession = await DoorCycleAsync(rotated, broker, [oldSession]);
        foreach (var (session, keyId) in new[] { (oldSession, oldKeyId), (newSession, newKeyId) })
        {
            var verify = await rotated.GetDataAsync($"/api/v1/sessions/{session}/verify");
            Assert.True(verify.GetProperty("ok").GetBoolean(), verify.ToString());
            Assert.All(verify.GetProperty("captures").EnumerateArray(), c => Assert.Equal("ok", c.GetProperty("signature").GetString()));
            var captures = (await rotated.GetDataAsync($"/api/v1/sessions/{session}/evidence?include_image=false")).GetProperty("captures").EnumerateArray().ToList();
            Assert.Equal(2, captures.Count);
            Assert.All(captures, c => Assert.Equal(keyId, c.GetProperty("key_id").GetString()));

            using var export = new TempDirectory();
            var results = await EvidenceExportProcessTests.ExportAndRunVerifyAsync(rotated, session, export.Path);
            Assert.Contains(results, r => r.Command.StartsWith("openssl pkey") && r.Output.Contains(keyId));
            Assert.Equal(2, results.Count(r => r.Command.Contains("openssl dgst")));
            Assert.All(results, r => Assert.True(r.ExitCode == 0, $"{r.Command}\n{r.Output}"));
            Assert.All(results.Where(r => r.Command.Contains("openssl dgst")), r => Assert.Contains("Verified OK", r.Output));
        }
        Assert.Equal(0, await rotated.StopAsync());

        // With the option still set and the key present, nothing rotates again.
        await using var again = AgentProcess.Start(environment);
        await again.WaitReadyAsync();
        Assert.Equal(newKeyId, (await again.GetDataAsync("/api/v1/device")).GetProperty("key_id").GetString());
        await again.WaitForOutputAsync("nothing rotated");
    }

    private static async Task<string> AssertStopsWithOneLineAsync(Dictionary<string, string> environment, string keyFile, string expected)
    {
        await using var agent = AgentProcess.Start(environment);
        Assert.Equal(78, await agent.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var lines = agent.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var line = Assert.Single(lines, l => l.Contains(keyFile));
        Assert.StartsWith("piorchestrator: configuration error:", line);
        Assert.Contains(expected, line);
        Assert.DoesNotContain("   at ", agent.Output);
        Assert.DoesNotContain("Unhandled exception", agent.Output);
        return line;
    }

    private static async Task<string> DoorCycleAsync(AgentProcess agent, MosquittoBroker broker, string[] earlier)
    {
        await broker.PublishAsync("containers/ctr-001/door", "opened");
        await broker.PublishAsync("containers/ctr-001/door", "closed");
        return (await Eventually.UntilAsync(async () =>
            (await agent.GetDataAsync("/api/v1/sessions?status=complete")).GetProperty("sessions").EnumerateArray()
                .Select(s => s.GetProperty("id").GetString()).FirstOrDefault(id => !earlier.Contains(id)),
            TimeSpan.FromSeconds(20), "a door cycle"))!;
    }
}
