/*
 * barrage.records._speedups: the one loop of Barrage that CPython cannot run fast.
 *
 * A list of dicts is the most natural way to hand records to Barrage from Python, and
 * turning it into columns means visiting every dict once per key. In Python the fastest
 * form of that visit (operator.itemgetter, packed by struct) still spends a few tens of
 * nanoseconds per value; reading the dicts here, with the dict API, takes less than half
 * of that. The module is optional: barrage/records/table.py keeps its pure-Python gather
 * and uses it whenever this extension was not built (no C compiler) or declines a case.
 *
 * It declines (returns None) rather than decides: every case it does not read exactly as
 * the Python gather would (a row that is not a plain dict, a missing key, a value other than
 * a float, int or bool, an int too large for a double, a list changed by a lookup) goes
 * back to Python, whose slower paths read it or name the record that cannot be read.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

PyDoc_STRVAR(float_rows_doc,
"float_rows(rows, keys, /)\n"
"--\n"
"\n"
"The values of ``keys`` (a tuple) in each dict of ``rows`` (a list or tuple) as C\n"
"doubles, row after row, in one bytearray (``numpy.frombuffer`` reads it as a\n"
"``(len(rows), len(keys))`` float64 array), read as ``struct`` packs them: floats\n"
"(``numpy.float64`` and other subclasses too) as stored, ints and bools as\n"
"``float()`` converts them. ``None`` when a row is not a plain dict, lacks a key or\n"
"holds anything else (an int subclass with its own ``__float__``, text, ``None``,\n"
"another NumPy scalar, ...), or when the list changes while it is read.");

/* One value as a double, as struct's PyFloat_AsDouble reads it; 0 when it is declined
   (no Python error is left set). PyFloat_AsDouble reads any float subclass's stored
   value, and calls __float__ for everything else: an int subclass with its own
   __float__ is declined rather than have its Python code run here. */
static int
read_double(PyObject *value, double *out)
{
    if (PyFloat_Check(value)) {
        *out = PyFloat_AS_DOUBLE(value);
        return 1;
    }
    /* an int, a bool (which inherits int's conversion) or another subclass that keeps it */
    if (PyLong_Check(value) && Py_TYPE(value)->tp_as_number->nb_float == PyLong_Type.tp_as_number->nb_float) {
        *out = PyLong_AsDouble(value);
        if (*out == -1.0 && PyErr_Occurred()) {  /* too large for a double */
            PyErr_Clear();
            return 0;
        }
        return 1;
    }
    return 0;
}

static PyObject *
float_rows(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "float_rows() takes exactly 2 arguments (rows, keys)");
        return NULL;
    }
    PyObject *rows = args[0], *keys = args[1];
    if (!PyTuple_Check(keys)) {
        PyErr_SetString(PyExc_TypeError, "float_rows(): keys must be a tuple");
        return NULL;
    }
    if (!PyList_CheckExact(rows) && !PyTuple_CheckExact(rows)) {
        Py_RETURN_NONE;  /* another kind of sequence: read by Python */
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(rows);
    Py_ssize_t width = PyTuple_GET_SIZE(keys);
    if (width > 0 && count > PY_SSIZE_T_MAX / width / (Py_ssize_t)sizeof(double)) {
        return PyErr_NoMemory();
    }
    PyObject *gathered = PyByteArray_FromStringAndSize(NULL, count * width * (Py_ssize_t)sizeof(double));
    if (gathered == NULL) {
        return NULL;
    }
    double *next = (double *)PyByteArray_AS_STRING(gathered);
    for (Py_ssize_t i = 0; i < count; i++) {
        /* A lookup may run Python code (a key class's __eq__) that changes the list:
           its length is checked before each row and the row is held while it is read. */
        if (PySequence_Fast_GET_SIZE(rows) != count) {
            goto declined;
        }
        PyObject *row = PySequence_Fast_GET_ITEM(rows, i);
        if (!PyDict_CheckExact(row)) {  /* a subclass may look keys up its own way */
            goto declined;
        }
        Py_INCREF(row);
        int read = 1;
        for (Py_ssize_t j = 0; read && j < width; j++) {
            PyObject *value = PyDict_GetItemWithError(row, PyTuple_GET_ITEM(keys, j));
            read = value != NULL && read_double(value, next++);
        }
        Py_DECREF(row);
        if (!read) {
            goto declined;
        }
    }
    if (PySequence_Fast_GET_SIZE(rows) != count) {  /* changed while its last row was read */
        goto declined;
    }
    return gathered;

declined:
    Py_DECREF(gathered);
    if (PyErr_Occurred()) {  /* from a lookup: a key that cannot be hashed or compared */
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef speedups_methods[] = {
    {"float_rows", (PyCFunction)(void (*)(void))float_rows, METH_FASTCALL, float_rows_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    "barrage.records._speedups",
    "Optional C speed-ups of barrage.records (see float_rows).",
    0,
    speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&speedups_module);
}
