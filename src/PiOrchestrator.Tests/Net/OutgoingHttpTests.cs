using System.Text.RegularExpressions;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Net;

/// <summary>Every outgoing HTTP handler comes from Net/OutgoingHttp.cs, so none runs its caller's work on a socket thread.</summary>
public class OutgoingHttpTests
{
    [Fact]
    public void No_file_of_the_agent_makes_an_http_handler_of_its_own()
    {
        var agent = Path.Combine(RepoPaths.Root, "src", "PiOrchestrator");
        // A handler type named at all (made directly, or target-typed), or an HttpClient that makes its own default one.
        var ownHandler = new Regex(@"\b(SocketsHttpHandler|HttpClientHandler)\b|new\s+HttpClient\s*\(\s*\)|HttpClient\s+\w+\s*=\s*new\s*\(\s*\)", RegexOptions.Compiled);
        var offenders = Directory.EnumerateFiles(agent, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Where(f => Path.GetFileName(Path.GetDirectoryName(f)) != "Net")
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (File: Path.GetRelativePath(agent, f), Line: i + 1, Text: line)))
            .Where(l => ownHandler.IsMatch(l.Text))
            .Select(l => $"{l.File}:{l.Line}: {l.Text.Trim()}")
            .ToList();
        Assert.True(offenders.Count == 0, "use Net.OutgoingHttp.Handler():\n" + string.Join("\n", offenders));
        // The check finds what it looks for: the factory itself makes one.
        Assert.Matches(ownHandler, File.ReadAllText(Path.Combine(agent, "Net", "OutgoingHttp.cs")));
    }
}
