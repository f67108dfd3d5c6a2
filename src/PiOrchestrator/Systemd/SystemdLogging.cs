namespace PiOrchestrator.Systemd;

public static class SystemdLogging
{
    /// <summary>systemd sets these for a service; the journal then wants one line per entry with a &lt;N&gt; priority prefix.</summary>
    public static bool UnderSystemd =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("INVOCATION_ID"))
        || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable("JOURNAL_STREAM"));

    public static WebApplicationBuilder AddAgentLogging(this WebApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        if (UnderSystemd)
            builder.Logging.AddSystemdConsole(o => o.UseUtcTimestamp = true);
        else
            builder.Logging.AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z' ";
            });
        return builder;
    }
}
