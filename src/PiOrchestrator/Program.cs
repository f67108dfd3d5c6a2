using PiOrchestrator.Access;
using PiOrchestrator.Capture;
using PiOrchestrator.Demo;
using PiOrchestrator.Doors;
using PiOrchestrator.Evidence;
using PiOrchestrator.Http;
using PiOrchestrator.Metrics;
using PiOrchestrator.Mqtt;
using PiOrchestrator.Net;
using PiOrchestrator.Sessions;
using PiOrchestrator.Site;
using PiOrchestrator.Status;
using PiOrchestrator.Store;
using PiOrchestrator.Systemd;
using PiOrchestrator.Upload;

SocketThreading.UseInlineCompletions();
var (agentArgs, demo) = DemoMode.Split(args);
var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = agentArgs, ContentRootPath = AppContext.BaseDirectory });
builder.AddAgentConfiguration(agentArgs);
builder.AddAgentLogging();

builder.Services
    .AddSite()
    .AddStore()
    .AddAccess()
    .AddEvidence()
    .AddCapture()
    .AddSessions()
    .AddUpload()
    .AddMqtt()
    .AddDoors()
    .AddApi()
    .AddStatus()
    .AddAgentMetrics()
    .AddAgentSystemd();
if (demo) builder.AddDemo();

var app = builder.Build();
app.UseApi();
app.MapSessionsApi();
app.MapEvidenceApi();
app.MapStatusApi();
app.MapCapturesApi();
app.MapAccessApi();
app.MapStatusPage();
app.MapMetrics();
if (demo) app.MapDemoCamera();

return await app.RunAgentAsync();

public partial class Program;
