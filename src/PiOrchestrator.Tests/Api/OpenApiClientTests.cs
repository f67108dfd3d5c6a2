using System.Diagnostics;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Api;

/// <summary>
/// The document is usable by the people it is for: a TypeScript client generated from it (npm openapi-typescript)
/// type-checks test-tools/dashboard-client/dashboard.ts, a dashboard that lists sessions, reads pairs, explains
/// missing_reason exhaustively and pages through a session's captures; and stops type-checking when a field it uses changes.
/// </summary>
public class OpenApiClientTests
{
    private static string Tool(params string[] path) => Path.Combine([RepoPaths.TestTools, "node_modules", .. path]);

    [Fact]
    public async Task A_generated_typescript_client_type_checks_the_dashboard_snippet()
    {
        await using var camera = await FakeCamera.StartAsync();
        await using var app = new AgentApplication(camera.Url);
        using var raw = app.Server.CreateClient();
        var document = await raw.GetStringAsync("/openapi/v1.json");

        var (ok, output) = await TypeCheckAsync(document);
        Assert.True(ok, output);

        // The same snippet against a document where missing_reason was renamed: tsc must refuse it.
        var (renamedOk, renamedOutput) = await TypeCheckAsync(document.Replace("\"missing_reason\"", "\"missingReason\"", StringComparison.Ordinal));
        Assert.False(renamedOk, "the snippet type-checked against a document without missing_reason");
        Assert.Contains("missing_reason", renamedOutput, StringComparison.Ordinal);

        // And against one where the evidence list lost its capture_tag filter: the paging snippet must fail.
        var withoutTag = System.Text.RegularExpressions.Regex.Replace(document, "\"name\":\\s*\"capture_tag\"", "\"name\": \"tag\"");
        Assert.NotEqual(document, withoutTag);
        var (untaggedOk, untaggedOutput) = await TypeCheckAsync(withoutTag);
        Assert.False(untaggedOk, "the snippet type-checked against a document without the capture_tag parameter");
        Assert.Contains("capture_tag", untaggedOutput, StringComparison.Ordinal);
    }

    private static async Task<(bool Ok, string Output)> TypeCheckAsync(string document)
    {
        var generator = Tool("openapi-typescript", "bin", "cli.js");
        var tsc = Tool("typescript", "bin", "tsc");
        Assert.True(File.Exists(generator) && File.Exists(tsc), "openapi-typescript and typescript are missing: run npm install in test-tools (scripts/test.sh does)");
        using var dir = new TempDirectory();
        var source = Path.Combine(RepoPaths.TestTools, "dashboard-client");
        foreach (var file in new[] { "dashboard.ts", "tsconfig.json" }) File.Copy(Path.Combine(source, file), Path.Combine(dir.Path, file));
        var documentFile = Path.Combine(dir.Path, "openapi.json");
        await File.WriteAllTextAsync(documentFile, document);

        var (generated, generatorOutput) = await NodeAsync(dir.Path, generator, documentFile, "-o", Path.Combine(dir.Path, "api.d.ts"));
        Assert.True(generated, "openapi-typescript failed:\n" + generatorOutput);
        return await NodeAsync(dir.Path, tsc, "-p", dir.Path);
    }

    private static async Task<(bool Ok, string Output)> NodeAsync(string workingDirectory, params string[] args)
    {
        var start = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = workingDirectory };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        return (process.ExitCode == 0, await output + await errors);
    }
}
