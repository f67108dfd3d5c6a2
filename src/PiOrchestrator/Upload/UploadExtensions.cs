using Microsoft.Extensions.Options;
using PiOrchestrator.Hosting;

namespace PiOrchestrator.Upload;

public static class UploadExtensions
{
    public static IServiceCollection AddUpload(this IServiceCollection services)
    {
        services.AddOptions<S3Options>().BindConfiguration("S3").ValidateOnStart();
        services.AddSingleton<IValidateOptions<S3Options>, S3OptionsAnnotations>();
        services.AddSingleton<IValidateOptions<S3Options>, S3OptionsValidator>();
        services.AddSingleton<S3ObjectStore>();
        services.AddSingleton<UploadState>();
        services.AddSingleton<Uploader>();
        services.AddHostedService(sp => sp.GetRequiredService<Uploader>());
        services.AddSingleton<UploadObserved>();
        services.AddSingleton<IGaugeSource>(sp => sp.GetRequiredService<UploadObserved>());
        services.AddSingleton<ISummaryPart>(sp => sp.GetRequiredService<UploadObserved>());
        return services;
    }

    private sealed class S3OptionsValidator : IValidateOptions<S3Options>
    {
        public ValidateOptionsResult Validate(string? name, S3Options o)
        {
            if (!o.Configured) return ValidateOptionsResult.Success;
            var problems = new List<string>();
            if (!Uri.TryCreate(o.Endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                problems.Add($"S3:Endpoint '{o.Endpoint}' must be an absolute http:// or https:// URL");
            if (string.IsNullOrEmpty(o.AccessKey)) problems.Add("S3:AccessKey must be set when S3:Endpoint is");
            if (string.IsNullOrEmpty(o.SecretKey)) problems.Add("S3:SecretKey must be set when S3:Endpoint is");
            if (!string.IsNullOrEmpty(o.CaFile))
            {
                if (uri is { Scheme: "http" }) problems.Add("S3:CaFile is set but S3:Endpoint is http://; use https://");
                if (!Tls.SiteCertificateAuthority.TryLoad(o.CaFile, out _, out var caError)) problems.Add($"S3:CaFile: {caError}");
            }
            return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
        }
    }
}
