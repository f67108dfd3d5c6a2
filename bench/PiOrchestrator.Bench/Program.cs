using PiOrchestrator.Bench;

return args.FirstOrDefault() switch
{
    "upload" => await UploadThroughput.RunAsync(args[1..]),
    "jpeg" => JpegTimings.Run(args[1..]),
    "store-signing" => StoreSigning.Run(args[1..]),
    "jpeg-libraries" => JpegLibraries.Run(args[1..]),
    "latency" => await DoorLatency.RunAsync(args[1..]),
    "capture-latency" => await CaptureLatency.RunAsync(args[1..]),
    "timelapse" when args.Length > 1 && args[1] == "cost" => await TimelapseCost.RunAsync(args[2..]),
    "timelapse" when args.Length > 1 && args[1] == "latency" => await TimelapseLatency.RunAsync(args[2..]),
    "bare-subscriber" => await DoorLatency.BareSubscriberAsync(args[1..]),
    "soak" => await Soak.RunAsync(args[1..]),
    "startup" => await Startup.RunAsync(args[1..]),
    "bare-server" => await Startup.BareServerAsync(args[1], args.Length > 2 ? args[2] : null),
    "http" when OperatingSystem.IsLinux() => await HttpThroughput.RunAsync(args[1..]),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: dotnet run -c Release --project bench/PiOrchestrator.Bench -- upload [captures] [kilobytes] [parallel] | jpeg | store-signing [rounds] | jpeg-libraries [rounds] | latency [cycles] [rounds] | capture-latency [cycles] [failed cycles] | soak [events] [containers] [csv] [events/s] | startup [rounds] | http [seconds] [connections] [rounds] [list,304,image] | timelapse cost [window s] [intervals s, comma-separated] | timelapse latency [cycles] [rounds] [frame size] [interval s] [hold s]");
    return 2;
}
