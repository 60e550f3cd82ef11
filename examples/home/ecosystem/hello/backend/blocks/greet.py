"""Example block: returns a greeting for input_data["name"]."""


def run(input_data, context):
    name = (input_data or {}).get("name", "World")
    return {"message": f"Hello, {name}!"}
