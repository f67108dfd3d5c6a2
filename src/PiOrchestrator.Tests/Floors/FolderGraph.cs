using Mono.Cecil;
using Mono.Cecil.Cil;

namespace PiOrchestrator.Tests.Floors;

/// <summary>
/// Which of the agent's folders (namespace <c>PiOrchestrator.X</c>) use which, read from the compiled assembly with
/// Mono.Cecil: base types, interfaces, attributes, fields, properties, signatures, locals and every type, method and
/// field an instruction names (generic arguments included). Nested and compiler-made types (lambdas, state machines)
/// count for the type they are declared in. Not ArchUnitNET: it attributed the configuration binder's and the JSON
/// source generator's generated helpers to their callers, so every <c>BindConfiguration</c> seemed to use every
/// options class.
/// </summary>
public static class FolderGraph
{
    private const string Root = "PiOrchestrator.";

    /// <summary>folder → folder it uses → a few example references ("Type → Type").</summary>
    public static Dictionary<string, Dictionary<string, List<string>>> Of(string assemblyPath)
    {
        using var module = ModuleDefinition.ReadModule(assemblyPath);
        var graph = new Dictionary<string, Dictionary<string, List<string>>>();
        foreach (var type in module.GetTypes())
        {
            if (FolderOf(type) is not { } from) continue;
            foreach (var target in References(type))
            {
                if (target.Module != module || FolderOf(target) is not { } to || to == from) continue;
                var uses = graph.GetValueOrDefault(from) ?? (graph[from] = []);
                var examples = uses.GetValueOrDefault(to) ?? (uses[to] = []);
                var example = $"{Outer(type).FullName[Root.Length..]} → {Outer(target).FullName[Root.Length..]}";
                if (!examples.Contains(example)) examples.Add(example);
            }
        }
        return graph;
    }

    private static TypeReference Outer(TypeReference type)
    {
        while (type.DeclaringType is { } outer) type = outer;
        return type;
    }

    private static string? FolderOf(TypeReference type)
    {
        var ns = Outer(type).Namespace;
        return ns.StartsWith(Root, StringComparison.Ordinal) ? ns[Root.Length..].Split('.')[0] : null;
    }

    private static IEnumerable<TypeReference> References(TypeDefinition type)
    {
        var found = new List<TypeReference>();
        void Add(TypeReference? t)
        {
            switch (t)
            {
                case null or GenericParameter:
                    return;
                case GenericInstanceType generic:
                    Add(generic.ElementType);
                    foreach (var argument in generic.GenericArguments) Add(argument);
                    return;
                case TypeSpecification specification:
                    Add(specification.ElementType);
                    return;
                default:
                    found.Add(t);
                    return;
            }
        }
        void AddAttributes(ICustomAttributeProvider provider)
        {
            foreach (var attribute in provider.CustomAttributes)
            {
                Add(attribute.AttributeType);
                foreach (var argument in attribute.ConstructorArguments) Add(argument.Value as TypeReference);
            }
        }
        void AddMethod(MethodReference method)
        {
            Add(method.DeclaringType);
            Add(method.ReturnType);
            foreach (var parameter in method.Parameters) Add(parameter.ParameterType);
            if (method is GenericInstanceMethod generic)
                foreach (var argument in generic.GenericArguments) Add(argument);
        }

        Add(type.BaseType);
        foreach (var i in type.Interfaces) Add(i.InterfaceType);
        AddAttributes(type);
        foreach (var field in type.Fields)
        {
            Add(field.FieldType);
            AddAttributes(field);
        }
        foreach (var property in type.Properties)
        {
            Add(property.PropertyType);
            AddAttributes(property);
        }
        foreach (var method in type.Methods)
        {
            AddMethod(method);
            AddAttributes(method);
            foreach (var parameter in method.Parameters) AddAttributes(parameter);
            if (!method.HasBody) continue;
            foreach (var local in method.Body.Variables) Add(local.VariableType);
            foreach (var instruction in method.Body.Instructions)
            {
                switch (instruction.Operand)
                {
                    case TypeReference t: Add(t); break;
                    case MethodReference m: AddMethod(m); break;
                    case FieldReference f:
                        Add(f.DeclaringType);
                        Add(f.FieldType);
                        break;
                }
            }
        }
        return found;
    }
}
